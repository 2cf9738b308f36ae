"""Every model is traceable: ``torch.export`` (inference) and ``torch.compile`` of a training step with no
graph break. Both need a hot path that never reads a tensor value on the host (``geometry.warp`` decides
affine vs projective statically)."""

import os

import pytest
import torch
import torch.nn.functional as F

from stnlab.geometry import family_matrix, warp
from stnlab.models import DATASETS, create_model, list_datasets, list_models
from stnlab.nn.conv import FastInputGradConv2d

torch.set_num_threads(2)

# every MNIST-R model, and each kind of model on the other data sets (STNLAB_EXPORT_ALL=1: every model)
KINDS = ("STN-C2", "STN-DL1", "STN-SL0123")
CASES = [(ds, n) for ds in list_datasets() for n in list_models(ds)
         if ds == "mnist-rot" or n in KINDS or os.environ.get("STNLAB_EXPORT_ALL")]


@pytest.mark.parametrize("ds,name", CASES, ids=[f"{d}:{n}" for d, n in CASES])
def test_export_matches_eager(ds, name):
    torch.manual_seed(0)
    model = create_model(name, ds).eval()
    for st in getattr(model, "spatial_transformers", list)():
        for net in st.loc_nets:  # non-identity transforms, so the export is checked on a real warp
            torch.nn.init.normal_(net.out.weight, std=1e-2)
    x = torch.rand(2, *DATASETS[ds].input_shape)
    exported = torch.export.export(model, (x,))
    y = torch.rand(2, *DATASETS[ds].input_shape)
    with torch.no_grad():
        assert torch.allclose(exported.module()(y), model(y), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name,kwargs", [("STN-C0", {}), ("STN-SL1", {"iterations": 2}),
                                         ("STN-C1", {"family": "projective"})])
def test_compile_training_step_has_no_graph_break(name, kwargs):
    torch.manual_seed(0)
    model = create_model(name, "mnist-rot", **kwargs).train()

    def loss_fn(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(x), y)

    compiled = torch.compile(loss_fn, backend="aot_eager", fullgraph=True)  # fullgraph: a break raises
    x, y = torch.rand(4, 1, 28, 28), torch.randint(0, 10, (4,))
    loss = compiled(x, y)
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    for g, p in zip(grads, model.parameters()):
        assert torch.allclose(g, p.grad, atol=1e-6, rtol=1e-4)


def test_fast_conv_gradcheck_and_fallbacks():
    from stnlab.nn.conv import _FastInputGradConv

    torch.manual_seed(0)
    for padding, c in (((0, 0), 1), ((2, 1), 3)):
        x = torch.randn(2, c, 6, 7, dtype=torch.float64, requires_grad=True)
        w = torch.randn(4, c, 3, 5, dtype=torch.float64, requires_grad=True)
        b = torch.randn(4, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda x, w, b, p=padding: _FastInputGradConv.apply(x, w, b, p), (x, w, b))
    conv = FastInputGradConv2d(1, 4, 3)
    x = torch.rand(2, 1, 8, 8)
    assert not conv._fast_ok(x)  # no input gradient wanted: plain conv
    assert conv._fast_ok(x.requires_grad_())
    assert not FastInputGradConv2d(1, 4, 3, stride=2)._fast_ok(x)


def test_fast_conv_under_bf16_autocast_matches_the_plain_conv():
    torch.manual_seed(0)
    conv = FastInputGradConv2d(1, 16, 9, padding=4)
    x = torch.rand(8, 1, 28, 28)
    results = []
    for fast in (True, False):
        xx = x.clone().requires_grad_()
        conv.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = conv(xx) if fast else torch.nn.Conv2d.forward(conv, xx)
        assert y.dtype == torch.bfloat16
        (y.float() ** 2).mean().backward()
        results.append((y.detach().float(), xx.grad, conv.weight.grad.clone(), conv.bias.grad.clone()))
    for a, b in zip(*results):
        assert a.dtype == b.dtype == torch.float32  # gradients reach the fp32 input and parameters in fp32
        assert float((a - b).abs().max()) <= 0.02 * float(b.abs().max()), "bf16 fast path differs from oneDNN"


def test_warp_projective_flag_is_static_and_exact_for_affine():
    torch.manual_seed(0)
    x = torch.rand(3, 2, 10, 12)
    affine = family_matrix("affine", 0.2 * torch.randn(3, 6))
    # the perspective division by the affine last row is exact: both paths agree bit for bit
    assert torch.equal(warp(x, affine, projective=True), warp(x, affine, projective=False))
    assert torch.equal(warp(x, affine), warp(x, affine[:, :2]))
    proj = family_matrix("projective", 0.1 * torch.randn(3, 8))
    assert not torch.allclose(warp(x, proj), warp(x, proj, projective=False))
    # bfloat16 images are sampled with an fp32 grid and give fp32
    assert warp(x.bfloat16(), affine).dtype == torch.float32
