"""Loc-net compensation statistics: an oracle that undoes rotations, STs that do nothing, layer conversion."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from stnlab.analysis import aligned_views, circular_correlation, compensation, st_depths
from stnlab.errors import StnlabError
from stnlab.geometry import rotation_matrix
from stnlab.models import create_model


@pytest.fixture(scope="module")
def digits(data_root) -> tuple[Tensor, Tensor]:
    from stnlab.data import load_mnist

    images, labels = load_mnist("test", data_root)
    return images[:60].float().div(255)[:, None], labels[:60]


class MomentOracle(nn.Module):
    """An "STN" whose input ST predicts the rotation that brings each digit's principal axis upright.

    With ``psi`` the principal-axis angle from vertical (image moments), content turned by ``alpha``
    has ``psi - alpha``, so predicting ``rotation_matrix(psi)`` undoes every applied rotation: slope -1.
    """

    def __init__(self) -> None:
        super().__init__()
        self.backbone = create_model("CNN", "mnist").backbone
        self.input_st = nn.Identity()

    def forward(self, x: Tensor, return_transforms: bool = False):
        n, _, h, w = x.shape
        c = (2 * torch.arange(h, dtype=x.dtype) + 1) / h - 1
        yy, xx = torch.meshgrid(c, c, indexing="ij")
        m = x[:, 0] / x[:, 0].sum(dim=(1, 2), keepdim=True)  # N x H x W weights
        mx, my = (m * xx).sum((1, 2)), (m * yy).sum((1, 2))
        dx, dy = xx - mx[:, None, None], yy - my[:, None, None]
        mu20, mu02, mu11 = (m * dx * dx).sum((1, 2)), (m * dy * dy).sum((1, 2)), (m * dx * dy).sum((1, 2))
        psi = 0.5 * torch.atan2(-2 * mu11, mu02 - mu20)  # 0 for an upright stroke
        logits = self.backbone(x)
        return (logits, [rotation_matrix(psi)]) if return_transforms else logits


def test_oracle_compensates_rotations(digits):
    images, labels = digits
    ones = labels == 1  # elongated digits: a well-defined principal axis
    res = compensation(MomentOracle(), images[ones], labels[ones], values=[-60, -40, -20, 0, 20, 40, 60])
    assert res.slope == pytest.approx(-1.0, abs=0.05)
    assert res.r2 > 0.95
    # applied + predicted = each digit's own slant (the oracle straightens it): ~12 degrees vs 40 without
    assert res.class_std < 0.35 * res.baseline_std
    assert res.applied.tolist() == pytest.approx([-60, -40, -20, 0, 20, 40, 60])


def test_identity_st_does_not_compensate(digits):
    images, labels = digits
    torch.manual_seed(0)
    model = create_model("STN-C0", "mnist-rot")  # zero-initialised loc-net: the identity
    res = compensation(model, images, labels, values=[-45, 0, 45])
    assert abs(res.slope) < 1e-6 and res.r2 == 0.0
    assert res.class_std == pytest.approx(res.baseline_std)
    by_class = res.class_std_by_class()
    assert sorted(by_class) == sorted(set(labels.tolist()))
    assert sum(by_class.values()) / len(by_class) == pytest.approx(res.class_std)
    # the identity keeps every image at the applied angle: each class spreads as the applied values do
    assert all(v == pytest.approx(res.baseline_std, rel=1e-5) for v in by_class.values())
    assert torch.equal(res.canonical(), res.applied[:, None].expand_as(res.predicted))
    assert res.error.shape == (3,) and ((res.error >= 0) & (res.error <= 1)).all()
    scale = compensation(model, images[:10], labels[:10], kind="scale")
    assert abs(scale.slope) < 1e-6
    assert scale.applied[0] == pytest.approx(math.log(0.5))  # content log-scale: the value given, logged


def test_feature_map_st_is_converted_to_input_coordinates(digits):
    """An STN-C1 sampling its 10x10 depth-1 map 0.2 (one map pixel) to the right moves the content 2 input
    pixels to the left."""
    images, labels = digits
    model = create_model("STN-C1", "mnist", family="translation")
    assert st_depths(model) == [1]
    with torch.no_grad():
        model.feature_sts["1"].loc_nets[0].out.bias.copy_(torch.tensor([0.2, 0.0]))
    res = compensation(model, images[:8], labels[:8], kind="translation", values=[-2, 0, 2])
    assert res.predicted.mean().item() == pytest.approx(-2.0, abs=1e-4)
    assert res.applied.tolist() == pytest.approx([-2, 0, 2])  # content shifts, as given
    assert abs(res.slope) < 1e-5


class CentringZoomOracle(nn.Module):
    """An "STN" whose input ST samples around each digit's centroid and zooms in ``1 / zoom`` times."""

    def __init__(self, zoom: float) -> None:
        super().__init__()
        self.backbone, self.zoom = create_model("CNN", "mnist").backbone, zoom
        self.input_st = nn.Identity()

    def forward(self, x: Tensor, return_transforms: bool = False):
        n, _, h, w = x.shape
        c = (2 * torch.arange(w, dtype=x.dtype) + 1) / w - 1  # pixel centres, normalised
        m = x[:, 0] / x[:, 0].sum(dim=(1, 2), keepdim=True)  # N x H x W weights
        mx, my = (m * c[None, None, :]).sum((1, 2)), (m * c[None, :, None]).sum((1, 2))
        out_to_in = torch.zeros(n, 3, 3, dtype=x.dtype)
        out_to_in[:, 0, 0] = out_to_in[:, 1, 1] = self.zoom
        out_to_in[:, 0, 2], out_to_in[:, 1, 2], out_to_in[:, 2, 2] = mx, my, 1.0
        logits = self.backbone(x[..., 4:-4, 4:-4])
        return (logits, [out_to_in]) if return_transforms else logits


@pytest.mark.parametrize("zoom", [1.0, 0.8])
def test_an_st_that_centres_each_digit_reads_full_compensation_whatever_its_zoom(digits, zoom):
    """Shifts are measured where the ST's output centre samples the input: centring = slope -1, and each
    digit's canonical position is its own centroid offset, the same under every shift (class std ~ 0)."""
    images, labels = digits
    padded = torch.nn.functional.pad(images[:12], (4, 4, 4, 4))  # 36 px: shifts of 4 keep the digit whole
    res = compensation(CentringZoomOracle(zoom), padded, labels[:12], kind="translation", values=[-4, -2, 0, 2, 4])
    assert res.slope == pytest.approx(-1.0, abs=1e-4) and res.r2 == pytest.approx(1.0, abs=1e-6)
    spread = res.canonical().std(0, unbiased=False)  # per image, over the applied shifts
    assert spread.max() < 1e-3


def test_aligned_views_apply_the_st_matrix(digits):
    images, _ = digits
    shown, aligned = aligned_views(MomentOracle(), images[:3], "rotation", [0.0, 30.0])
    assert shown.shape == aligned.shape == (2, 3, 1, 28, 28)
    # the oracle brings both rotated versions to (nearly) the same pose
    assert (aligned[0] - aligned[1]).abs().mean() < 0.5 * (shown[0] - shown[1]).abs().mean()


def test_analysis_leaves_the_model_in_its_mode(digits):
    """aligned_views / compensation run in eval mode and hand a training model back in training mode."""
    images, labels = digits
    model = create_model("STN-C0", "mnist").train()
    aligned_views(model, images[:2], "rotation", [0.0, 30.0])
    compensation(model, images[:4], labels[:4], values=[0.0, 30.0])
    assert all(m.training for m in model.modules())


def test_plain_cnn_and_bad_values_are_rejected(digits):
    images, labels = digits
    with pytest.raises(StnlabError, match="no spatial transformer"):
        compensation(create_model("CNN", "mnist"), images[:4], labels[:4])
    model = create_model("STN-C0", "mnist")
    with pytest.raises(StnlabError, match="at least two"):
        compensation(model, images[:4], labels[:4], values=[10])
    with pytest.raises(StnlabError, match="unknown transform kind .shear.; valid: rotation, scale, translation"):
        compensation(model, images[:4], labels[:4], kind="shear")
    with pytest.raises(StnlabError, match="st_index"):
        compensation(model, images[:4], labels[:4], st_index=3)


def test_circular_correlation_sees_compensation_through_the_wrap():
    applied = torch.arange(-180.0, 181.0, 30.0)  # V
    offsets = torch.tensor([0.0, 170.0, -120.0])  # per-image canonical poses; 170 - applied wraps past 180
    full = -applied[:, None] + offsets  # V x N: full compensation
    wrapped = torch.remainder(full + 180.0, 360.0) - 180.0
    assert circular_correlation(applied, wrapped) == pytest.approx(-1.0, abs=1e-9)
    assert circular_correlation(applied, -wrapped) == pytest.approx(1.0, abs=1e-9)  # turning with the input
    assert circular_correlation(applied, torch.full((13, 3), 42.0)) == 0.0  # a constant prediction explains nothing
    noise = torch.rand(13, 400, generator=torch.Generator().manual_seed(0)) * 360 - 180
    assert abs(circular_correlation(applied, noise)) < 0.1


def test_circular_correlation_of_the_oracle_and_of_an_identity_st(digits):
    images, labels = digits
    ones = labels == 1
    res = compensation(MomentOracle(), images[ones], labels[ones], values=[-60, -40, -20, 0, 20, 40, 60])
    assert res.circ_corr == pytest.approx(-1.0, abs=0.05) and res.to_dict()["circ_corr"] == res.circ_corr
    still = compensation(create_model("STN-C0", "mnist").eval(), images[:8], labels[:8], values=[-90, 0, 90])
    assert still.circ_corr == pytest.approx(0.0, abs=1e-3)
    shifts = compensation(create_model("STN-C0", "mnist").eval(), images[:4], labels[:4], kind="translation",
                          values=[-2, 2])
    assert shifts.circ_corr is None  # rotations only
