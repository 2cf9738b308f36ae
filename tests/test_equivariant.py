"""The rotation-equivariant family: group convolutions (exact equivariance at 90 degrees, export to plain
convs, one state dict), the invariant CNN (invariance with tolerances), the group-aware STN-C1-eq end to
end, names, the optional e2cnn dependency. The model contract covers every listed name
(tests/test_models_contract.py)."""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import stnlab
import stnlab.models.equivariant as eq
import stnlab.nn.equivariant as eqnn
from stnlab.geometry import rotation_matrix, warp
from stnlab.geometry.orientation import group_warp
from stnlab.models import cnn_of, create_model, group_stn, list_models
from stnlab.nn import GroupConv2d, GroupSpatialTransformer, SpatialTransformer, to_plain_convs
from stnlab.nn.layers import layer_geometries

torch.set_num_threads(2)
tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")
ROOT = Path(__file__).resolve().parents[1]


def blobs(n: int = 4, size: int = 28, seed: int = 0) -> torch.Tensor:
    """``n x 1 x size x size`` smooth random images (sums of Gaussian blobs inside the inscribed disk)."""
    g = torch.Generator().manual_seed(seed)
    yx = (torch.arange(size) + 0.5) / size * 2 - 1
    y, x = torch.meshgrid(yx, yx, indexing="ij")
    centres = (torch.rand(n, 5, 2, generator=g) - 0.5) * 1.0
    d2 = (x - centres[..., 0, None, None]) ** 2 + (y - centres[..., 1, None, None]) ** 2  # n x 5 x H x W
    return torch.exp(-d2 / 0.04).sum(1, keepdim=True).clamp(max=1)


def quarter(x: torch.Tensor, k: int) -> torch.Tensor:
    """``x`` turned counter-clockwise by ``k`` quarter turns (exact on the pixel grid)."""
    return torch.rot90(x, k, dims=(-2, -1))


@pytest.mark.parametrize("name,order", [("CNN2-eq", 8), ("CNN2-eq4", 4)])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_equivariant_stages_are_exact_at_quarter_turns(name, order, k):
    """Γ(rot f) == group_warp(Γ(f), rot): the maps turn and the orientation channels roll, at every depth."""
    torch.manual_seed(0)
    stages, x = create_model(name, "mnist-rot").eval().backbone.stages, blobs(3)
    a, b = x, quarter(x, k)
    for depth, stage in enumerate(stages, start=1):
        with torch.no_grad():
            a, b = stage(a), stage(b)
        moved = group_warp(a, rotation_matrix(torch.full((3,), k * math.pi / 2)), order)
        assert (moved - b).abs().max() <= 1e-5 * a.abs().max(), depth  # float rounding only


@pytest.mark.parametrize("name,depth,order", [("CNN2-eq", 2, 8), ("CNN-inv4", 10, 4)])
def test_plankton_stages_are_exact_at_quarter_turns_and_the_invariant_cnn_invariant(name, depth, order):
    """The plankton CNN's 3x3 stride-2 pools on odd sides (95 -> 47 -> 23 -> 11 -> 5) keep a quarter turn
    exact through every equivariant stage; CNN-inv's logits do not change."""
    torch.manual_seed(0)
    model, x = create_model(name, "plankton").eval(), blobs(2, size=95)
    a, b = x, quarter(x, 1)
    for d, stage in enumerate(model.backbone.stages[:depth], start=1):
        with torch.no_grad():
            a, b = stage(a), stage(b)
        moved = group_warp(a, rotation_matrix(torch.full((2,), math.pi / 2)), order)
        assert (moved - b).abs().max() <= 1e-4 * a.abs().max(), d  # float rounding only
    if name.startswith("CNN-inv"):
        assert _logit_change(model, x, quarter(x, 1)) < 1e-4


def test_a_plain_cnn_is_not_equivariant_that_way():
    torch.manual_seed(0)
    stage, x = create_model("CNN", "mnist-rot").eval().backbone.stages[0], blobs(3)
    with torch.no_grad():
        a, b = stage(x), stage(quarter(x, 1))
    moved = group_warp(a, rotation_matrix(torch.full((3,), math.pi / 2)), 8)
    assert (moved - b).abs().max() > 0.1 * a.abs().max()


def _logit_change(model: nn.Module, x: torch.Tensor, turned: torch.Tensor) -> float:
    """``||model(turned) - model(x)|| / ||model(x)||``."""
    with torch.no_grad():
        ref = model.eval()(x)
        return float((model(turned) - ref).norm() / ref.norm())


def test_invariant_cnn_tolerances():
    """CNN-inv (random weights): invariant to float rounding at multiples of 90 degrees (measured 3e-7); at 45
    degrees only up to the bilinear rotation of the input and the steerable filters sampled on the grid
    (measured 0.07 relative for C_8, 0.27 for C_4, which has no 45-degree element); the plain CNN is far from
    invariant at either angle (0.62 / 0.42)."""
    torch.manual_seed(0)
    x = blobs(4)
    turn45 = warp(x, rotation_matrix(torch.full((4,), math.pi / 4)))
    inv, inv4, cnn = (create_model(n, "mnist-rot") for n in ("CNN-inv", "CNN-inv4", "CNN"))
    assert max(_logit_change(m, x, quarter(x, k)) for m in (inv, inv4) for k in (1, 2)) < 1e-5
    c8, c4 = _logit_change(inv, x, turn45), _logit_change(inv4, x, turn45)
    assert c8 < 0.15 and c4 > 2 * c8, (c8, c4)
    assert min(_logit_change(cnn, x, y) for y in (quarter(x, 1), turn45)) > 0.2


def test_export_to_plain_convs_gives_the_same_outputs():
    torch.manual_seed(0)
    x = blobs(3)
    for name in ("STN-C1-eq", "CNN-inv4"):
        model = create_model(name, "mnist-rot").eval()
        plain = to_plain_convs(model)
        assert not any(isinstance(m, GroupConv2d) for m in plain.modules())
        assert any(isinstance(m, GroupConv2d) for m in model.modules())  # the original is left as it was
        with torch.no_grad():
            assert torch.allclose(plain(x), model(x), atol=1e-5)


def test_one_state_dict_in_train_and_eval_mode_without_the_basis():
    conv = GroupConv2d(16, 4, 5, 4)
    keys = set(conv.state_dict())
    assert keys == {"weight", "bias"} and conv.weight.shape == (4, 4, conv.basis.shape[0])
    conv.eval()
    assert set(conv.state_dict()) == keys
    fresh = GroupConv2d(16, 4, 5, 4).train()
    fresh.load_state_dict(conv.state_dict())  # strict: no mode-dependent keys
    x = torch.rand(2, 16, 9, 9)
    with torch.no_grad():
        assert torch.equal(fresh(x), conv(x))


def test_hybrid_layer_geometry_is_the_plain_cnns():
    """The group convs take part in the receptive-field arithmetic like the convs they replace."""
    for ds, shape in (("mnist-rot", (1, 28, 28)), ("mnist-trans", (1, 60, 60))):
        plain = layer_geometries(create_model("CNN", ds).backbone.stages, shape)
        assert layer_geometries(create_model("CNN2-eq", ds).backbone.stages, shape) == plain


def _set_rotation(st: SpatialTransformer, angle: float) -> None:
    """Make an affine loc-net predict exactly the rotation by ``angle`` (zero weights, bias = R - I)."""
    c, s = math.cos(angle), math.sin(angle)
    with torch.no_grad():
        st.loc_nets[0].out.bias.copy_(torch.tensor([c - 1, -s, 0.0, s, c - 1, 0.0]))


@pytest.mark.parametrize("k", [1, 2])
def test_stn_c1_eq_with_a_quarter_turn_equals_its_cnn_on_the_turned_image(k):
    """The group-aware ST makes the depth-1 maps those of the rotated input: the stages and head after it
    see exactly what they would see for the turned image. A purely spatial ST does not."""
    torch.manual_seed(0)
    model, cnn = create_model("STN-C1-eq", "mnist-rot").eval(), create_model(cnn_of("STN-C1-eq"), "mnist-rot").eval()
    cnn.backbone.load_state_dict(model.backbone.state_dict())
    st = model.feature_sts["1"]
    assert isinstance(st, GroupSpatialTransformer) and st.group_order == 8
    _set_rotation(st, k * math.pi / 2)
    x = blobs(3)
    with torch.no_grad():
        target = cnn(quarter(x, k))
        assert torch.allclose(model(x), target, atol=1e-4)
        model.feature_sts["1"] = SpatialTransformer(list(st.loc_nets), family="affine")  # space only
        assert (model(x) - target).abs().max() > 1e-2


def test_names_listing_and_errors():
    names = list_models("mnist-rot")
    for name in ("CNN-inv", "CNN1-eq", "STN-C1-eq", "STN-SL1-eq", "STN-C2-eq4", "CNN-inv4"):
        assert name in names
    assert "STN-C1-eq" not in list_models("mnist") and "STN-C1-eq" not in list_models("svhn")  # rotation data
    assert isinstance(create_model("STN-C1-eq", "mnist").feature_sts["1"], GroupSpatialTransformer)  # still builds
    assert [cnn_of(n) for n in ("STN-SL1-eq4", "CNN-inv", "STN-C1")] == ["CNN1-eq4", "CNN-inv", "CNN"]
    for bad, match in (("STN-C0-eq", "1..2"), ("STN-C3-eq", "1..2"), ("CNN5-eq", "1..2")):
        with pytest.raises(stnlab.StnlabError, match=match):
            create_model(bad, "mnist-rot")
    with pytest.raises(stnlab.StnlabError, match="mnist and plankton CNNs, not 'svhn'"):
        create_model("STN-C1-eq", "svhn")
    plankton = list_models("plankton")  # photographed in every orientation: listed up to the paper's depth 2
    assert {"STN-C2-eq", "CNN2-eq4", "STN-SL2-eq", "CNN-inv"} <= set(plankton) and "STN-C3-eq" not in plankton
    assert isinstance(create_model("STN-C7-eq4", "plankton").feature_sts["7"], GroupSpatialTransformer)
    with pytest.raises(stnlab.StnlabError, match="needs an affine family"):
        create_model("STN-C1-eq", "mnist-rot", family="projective")


def test_group_stn_on_a_users_backbone():
    """Feature STs on regular fields become group-aware, those on plain maps stay spatial."""
    def stage(c_in: int, c_out: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))

    def cnn() -> list[nn.Module]:
        plain = stnlab.models.as_backbone([stage(1, 16), stage(16, 16), stage(16, 16),
                                           nn.Sequential(nn.Flatten(), nn.Linear(16 * 4 * 4, 3))])
        return eq.hybrid_backbone(plain, 4, 2)

    model = group_stn(cnn(), (1, 32, 32), "STN-C0123")
    kinds = {d: type(st).__name__ for d, st in model.feature_sts.items()}
    assert kinds == {"0": "SpatialTransformer", "1": "GroupSpatialTransformer", "2": "GroupSpatialTransformer",
                     "3": "SpatialTransformer"}
    assert model(torch.rand(2, 1, 32, 32)).shape == (2, 3)


def test_without_e2cnn_the_models_say_how_to_install_it(monkeypatch):
    def missing(name, *args):
        raise ImportError(name)

    monkeypatch.setattr(eqnn.importlib, "import_module", missing)
    with pytest.raises(stnlab.StnlabError, match=re.escape('pip install "stnlab[equivariant]"')):
        eqnn.e2cnn()
    monkeypatch.setattr(eq, "e2cnn_available", lambda: False)
    assert not any(n.endswith(("-eq", "-inv")) for n in list_models("mnist-rot"))


def test_e2cnn_is_the_pinned_equivariant_extra_and_the_readme_installs_it():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras["equivariant"] == ["e2cnn==0.2.3"] and "e2cnn==0.2.3" in extras["dev"]  # dev: what CI installs
    readme = (ROOT / "README.md").read_text()
    assert readme.count('python -m pip install -e ".[svhn,equivariant]"') == 2  # the CPU and CUDA lines


def test_group_conv_speed_paths(monkeypatch):
    """Channels-last in, channels-last out (else the pooling after it ran 5x slower); the fast input gradient of
    FastInputGradConv2d only for an image input (its shifted adds made a 64-channel input 10x slower)."""
    calls = []
    monkeypatch.setattr(eqnn, "fast_input_grad_conv2d", lambda *a: calls.append(a[0].shape[1]) or torch.zeros(1))
    image = GroupConv2d(1, 8, 9, 8, in_regular=False)
    x = torch.rand(2, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    assert image(x).is_contiguous(memory_format=torch.channels_last) and calls == []  # no gradient asked
    image(x.requires_grad_())
    GroupConv2d(64, 8, 7, 8)(torch.rand(2, 64, 10, 10, requires_grad=True))
    assert calls == [1]
