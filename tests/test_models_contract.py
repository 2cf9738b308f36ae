"""One contract over every registered model x data set (timm style)."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import stnlab
import stnlab.nn.conv
from stnlab.models import DATASETS, create_model, list_datasets, list_models

torch.set_num_threads(2)

CASES = [(ds, name) for ds in list_datasets() for name in list_models(ds)]


def _expected_shape(ds: str, batch: int) -> tuple:
    spec = DATASETS[ds]
    return (batch, spec.num_heads, spec.num_classes) if spec.num_heads > 1 else (batch, spec.num_classes)


def _wake_loc_nets(model: torch.nn.Module, scale: float = 1e-2) -> None:
    """Give every zero-initialised loc-net output layer small random weights so gradients flow through it."""
    for st in model.spatial_transformers():
        for net in st.loc_nets:
            torch.nn.init.normal_(net.out.weight, std=scale)


class NoHostSync(TorchDispatchMode):
    """Raise on any op that reads a tensor value on the host (``.item()``, ``bool(t)``, ``.tolist()``)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in (torch.ops.aten._local_scalar_dense.default, torch.ops.aten.is_nonzero.default):
            raise AssertionError(f"host synchronisation in the model: {func}")
        return func(*args, **(kwargs or {}))


def _loss_and_grads(model, x, target, num_classes, fast: bool) -> tuple[torch.Tensor, dict]:
    """Forward + backward with the fast conv input gradient on or off; the logits and every gradient."""
    model.zero_grad(set_to_none=True)
    saved = stnlab.nn.conv.FastInputGradConv2d._fast_ok
    if not fast:
        stnlab.nn.conv.FastInputGradConv2d._fast_ok = lambda self, x: False
    try:
        with NoHostSync():
            torch.manual_seed(1)  # the same dropout masks in both passes
            out = model(x)
            loss = torch.nn.functional.cross_entropy(out.reshape(-1, num_classes), target.reshape(-1))
            loss.backward()
    finally:
        stnlab.nn.conv.FastInputGradConv2d._fast_ok = saved
    return out.detach(), {n: p.grad for n, p in model.named_parameters()}


@pytest.mark.parametrize("ds,name", CASES, ids=[f"{d}:{n}" for d, n in CASES])
def test_contract(ds, name):
    torch.manual_seed(0)
    spec = DATASETS[ds]
    cnn, model = create_model("CNN", ds), create_model(name, ds)
    model.backbone.load_state_dict(cnn.backbone.state_dict())
    x = torch.rand(3, *spec.input_shape)

    # identity start: in eval mode the STN's logits equal the CNN's with the same backbone weights
    cnn.eval(), model.eval()
    with torch.no_grad():
        ref = cnn(x)
        logits, mats = model(x, return_transforms=True)
    assert logits.shape == ref.shape == _expected_shape(ds, 3)
    assert torch.allclose(logits, ref, atol=1e-5, rtol=1e-4), (logits - ref).abs().max()
    assert len(mats) == len(model.spatial_transformers())
    for m in mats:
        assert torch.equal(m, torch.eye(3).expand(3, 3, 3))

    # every parameter gets a finite, non-zero gradient; the step reads no tensor value on the host;
    # the fast first-conv input gradient (stnlab.nn.conv) equals the plain PyTorch path
    model.train()
    _wake_loc_nets(model)
    target = torch.randint(0, spec.num_classes, ref.shape[:-1])
    out, grads = _loss_and_grads(model, x, target, spec.num_classes, fast=True)
    ref_out, ref_grads = _loss_and_grads(model, x, target, spec.num_classes, fast=False)
    assert torch.allclose(out, ref_out, atol=1e-5, rtol=1e-4)
    for pname, g in grads.items():
        assert g is not None, f"{pname} got no gradient"
        assert torch.isfinite(g).all(), pname
        assert g.abs().sum() > 0, f"{pname} has an all-zero gradient"
        assert torch.allclose(g, ref_grads[pname], atol=1e-5, rtol=1e-3), (pname, (g - ref_grads[pname]).abs().max())


def test_public_entry_points():
    assert stnlab.create_model is create_model and stnlab.list_models is list_models
    assert {"mnist", "mnist-rot", "mnist-trans", "mnist-scale", "svhn", "plankton"} <= set(list_datasets())
    assert "STN-SL0123" in list_models("svhn") and "STN-C0123" in list_models("plankton")
    assert "STN-C10" in list_models("plankton") and "STN-C8" in list_models("svhn")


@pytest.mark.parametrize("bad,match", [("STN-X1", "unknown model"), ("STN-C9", "not valid for 'svhn'"),
                                       ("STN-C31", "not valid"), ("STN-SL0", "use 'STN-C0'")])
def test_bad_model_names(bad, match):
    with pytest.raises(stnlab.StnlabError, match=match):
        create_model(bad, "svhn")


def test_bad_dataset_and_overrides():
    with pytest.raises(stnlab.StnlabError, match="valid: mnist, mnist-rot"):
        create_model("CNN", "cifar10")
    with pytest.raises(stnlab.StnlabError, match="valid: affine"):
        create_model("STN-C0", "mnist-rot", family="warp")
    with pytest.raises(stnlab.StnlabError, match="valid: mnist, small, large"):
        create_model("STN-C0", "mnist-rot", loc_net="huge")
    with pytest.raises(stnlab.StnlabError, match="iterations"):
        create_model("STN-C0", "mnist-rot", iterations=0)


def test_names_for_ten_stage_plankton():
    model = create_model("STN-C10", "plankton")
    assert list(model.feature_sts) == ["10"]
    model = create_model("STN-C12", "plankton")  # 12 > 10 stages: read as depths 1 and 2
    assert list(model.feature_sts) == ["1", "2"]
