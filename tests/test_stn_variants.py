"""Where each STN variant reads and what it transforms; parameter sharing; iterative composition."""

import pytest
import torch

from helpers import check_sl_shares
from stnlab.geometry import family_matrix, identity, warp
from stnlab.models import DATASETS, create_model
from stnlab.nn import SpatialTransformer, parameter_groups

torch.set_num_threads(2)


def _set_translation(st: SpatialTransformer, tx: float, ty: float) -> None:
    """Make every loc-net of ``st`` output a fixed translation (affine family: p2, p5)."""
    for net in st.loc_nets:
        torch.nn.init.zeros_(net.out.weight)
        with torch.no_grad():
            net.out.bias.copy_(torch.tensor([0, 0, tx, 0, 0, ty], dtype=torch.float32))


@pytest.mark.parametrize("ds,depth", [("mnist-trans", 1), ("svhn", 3), ("plankton", 7)])
def test_stn_cx_transforms_feature_maps(ds, depth):
    torch.manual_seed(0)
    model = create_model(f"STN-C{depth}", ds).eval()
    st = model.feature_sts[str(depth)]
    _set_translation(st, 0.25, -0.125)
    seen = {}
    model.backbone.stages[depth - 1].register_forward_hook(lambda m, i, o: seen.__setitem__("before", o))
    model.backbone.stages[depth].register_forward_pre_hook(lambda m, i: seen.__setitem__("after", i[0]))
    x = torch.rand(2, *DATASETS[ds].input_shape)
    with torch.no_grad():
        _, mats = model(x, return_transforms=True)
    before, after = seen["before"], seen["after"]
    assert before.shape[1] == model.backbone.stages[depth - 1][0].out_channels  # a feature map, not the image
    assert not torch.allclose(before, after)
    assert torch.allclose(after, warp(before, mats[0]), atol=1e-6)


@pytest.mark.parametrize("kind", ["DL", "SL"])
def test_dl_sl_transform_the_input(kind):
    torch.manual_seed(0)
    model = create_model(f"STN-{kind}1", "mnist-trans").eval()
    _set_translation(model.input_st, 0.25, 0.0)
    seen = {}
    model.backbone.stages[0].register_forward_pre_hook(lambda m, i: seen.__setitem__("x", i[0]))
    x = torch.rand(2, 1, 60, 60)
    with torch.no_grad():
        _, mats = model(x, return_transforms=True)
    assert seen["x"].shape == x.shape
    assert torch.allclose(seen["x"], warp(x, mats[0]), atol=1e-6)


def test_sl_shares_the_very_same_tensors():
    check_sl_shares(create_model("STN-SL3", "svhn"), 3)


def test_dl_has_its_own_reinitialised_copy():
    torch.manual_seed(0)
    model = create_model("STN-DL3", "svhn")
    trunk = model.input_st.loc_nets[0].trunk
    for i in range(3):
        for p, q in zip(trunk[i].parameters(), model.backbone.stages[i].parameters()):
            assert p is not q and p.shape == q.shape
            assert not torch.equal(p, q)  # re-initialised, not a copy of the values


def test_iterative_sl0123_composes_by_hand():
    torch.manual_seed(0)
    model = create_model("STN-SL0123", "svhn").eval()
    st = model.input_st
    assert st.iterations == 4 and [len(n.trunk) for n in st.loc_nets] == [0, 1, 2, 3]
    for net in st.loc_nets:
        torch.nn.init.normal_(net.out.weight, std=1e-3)
        torch.nn.init.normal_(net.out.bias, std=0.05)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        logits, mats = model(x, return_transforms=True)
        m = identity(2)
        for i, net in enumerate(st.loc_nets):
            src = x if i == 0 else warp(x, m)  # always the original image, resampled once
            m = m @ family_matrix("affine", net(src))
        expect = model.backbone(warp(x, m))
    assert torch.allclose(mats[0], m, atol=1e-6)
    assert torch.allclose(logits, expect, atol=1e-5)
    assert not torch.allclose(m, identity(2), atol=1e-3)


def test_iterations_override_reuses_one_loc_net():
    torch.manual_seed(0)
    model = create_model("STN-C0", "mnist-rot", family="rotation", iterations=3).eval()
    st = model.feature_sts["0"]
    assert len(st.loc_nets) == 1 and st.iterations == 3
    torch.nn.init.zeros_(st.loc_nets[0].out.weight)
    with torch.no_grad():
        st.loc_nets[0].out.bias.fill_(0.1)  # a constant rotation of 0.1 rad per iteration
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        _, mats = model(x, return_transforms=True)
    angle = torch.atan2(mats[0][:, 1, 0], mats[0][:, 0, 0])
    assert torch.allclose(angle, torch.full((2,), 0.3), atol=1e-6)


def test_c0123_is_independent_sts():
    model = create_model("STN-C0123", "svhn")
    assert list(model.feature_sts) == ["0", "1", "2", "3"]
    assert all(st.iterations == 1 for st in model.feature_sts.values())
    assert model.feature_sts["2"].loc_nets[0].hidden[1].in_features == 64 * 32 * 32


def test_parameter_groups_use_the_multiplier():
    model = create_model("STN-SL2", "svhn", loc_lr_multiplier=0.1)
    groups = parameter_groups(model, lr=0.01)
    lrs = {g["name"]: g["lr"] for g in groups}
    assert lrs == {"classifier": 0.01, "st0": pytest.approx(0.001)}
    n_grouped = sum(len(g["params"]) for g in groups)
    assert n_grouped == len(list(model.parameters()))
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids))  # a shared SL trunk is in exactly one group
    assert parameter_groups(model, 0.01, loc_lr_multiplier=1.0)[1]["lr"] == 0.01
