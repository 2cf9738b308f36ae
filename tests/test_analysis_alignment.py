"""The alignment residual on real MNIST digits: the theory's predictions, geometry, optimiser, determinism.

Measured thresholds (random ``CNN``/``mnist-trans`` backbone, 100 digits centred on the 60 px canvas,
10 Levenberg-Marquardt iterations, radius 0.8; see docs/analysis.md): whole-stride shifts give < 1e-6
at every depth; at depth 0 rotation by 45 degrees leaves 0.19 and scaling by 2 leaves 0.14 (bilinear
resampling twice); at depths 1-2 rot45, rot90 and scale2 leave 0.41-0.63 at the optimum.
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stnlab.analysis import alignment_residual, layer_geometries, stages_of
from stnlab.errors import StnlabError
from stnlab.models import create_model

TINY = 1e-5  # float round-off of an exact alignment
DEPTH0_BOUND = 0.25  # depth-0 interpolation error for rot45 / scale2 (measured 0.19 / 0.14)
LARGE = 0.3  # depth >= 1 residual for rot45 / rot90 / scale2 with random filters (measured >= 0.41)


@pytest.fixture(scope="module")
def digits(data_root) -> tuple[torch.Tensor, torch.Tensor]:
    """24 MNIST test digits (N x 1 x 28 x 28 in [0, 1]) and their labels."""
    from stnlab.data import load_mnist

    images, labels = load_mnist("test", data_root)
    return images[:24].float().div(255)[:, None], labels[:24]


@pytest.fixture(scope="module")
def canvas(digits) -> torch.Tensor:
    """The digits centred on the 60 px mnist-trans canvas, so that depth 2 has a 10x10 map."""
    return F.pad(digits[0][:16], (16, 16, 16, 16))


@pytest.fixture(scope="module")
def random_result(canvas):
    torch.manual_seed(0)
    model = create_model("CNN", "mnist-trans")
    return alignment_residual(model, canvas, ["trans:4", "trans:-4,8", "rot:45", "rot:90", "scale:2"], steps=8)


def test_geometry_of_the_mnist_backbone():
    stages = stages_of(create_model("CNN", "mnist-trans"))
    geos = layer_geometries(stages, (1, 60, 60))
    assert [g.map_size for g in geos] == [60, 26, 10]
    assert [g.jump for g in geos] == [1, 2, 4]
    # 9x9 conv + pool: map pixel j sees input pixel 4.5 + 2 j, so 26 px span 52 of 60 input px
    assert geos[1].a == pytest.approx(52 / 60) and geos[1].b == pytest.approx(0.0)
    assert geos[2].a == pytest.approx(40 / 60) and geos[2].b == pytest.approx(0.0)


def test_geometry_of_string_padding_matches_numbers():
    def geo(p1, p2):
        stages = [nn.Sequential(nn.Conv2d(1, 2, 5, padding=p1), nn.MaxPool2d(2)), nn.Conv2d(2, 2, 3, padding=p2)]
        return [(g.map_size, g.jump, g.a, g.b) for g in layer_geometries(stages, (1, 21, 21))]

    assert geo("same", "same") == geo(2, 1) and geo("valid", "valid") == geo(0, 0)
    same = geo("same", "same")
    assert same[1][:2] == (10, 2) and same[1][3] != pytest.approx(0.0)  # the pool drops the last column
    assert same[2][0] == 10 and same[2][2:] == same[1][2:]  # a 'same' conv keeps the grid


@pytest.mark.parametrize("layer", ["same", "zeropad"])
def test_even_kernel_same_padding_geometry(layer):
    """PyTorch's padding='same' pads an even kernel one pixel more after than before, so the map is shifted
    half a pixel: with C4-symmetric 4x4 filters rot90 must align exactly at the analytic inverse (it was
    0.55 when 'same' was taken as symmetric). An explicit ZeroPad2d((1, 2, 1, 2)) is the same layer."""
    torch.manual_seed(0)
    w = torch.randn(8, 1, 4, 4)
    w = sum(torch.rot90(w, k, dims=(-2, -1)) for k in range(4)) / 4
    conv = nn.Conv2d(1, 8, 4, padding="same" if layer == "same" else 0, bias=False)
    with torch.no_grad():
        conv.weight.copy_(w)
    stage = conv if layer == "same" else nn.Sequential(nn.ZeroPad2d((1, 2, 1, 2)), conv)
    images = torch.rand(6, 1, 24, 24)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: 'same' with an even kernel copies the input
        res = alignment_residual([stage], images, ["rot:90", "rot:180"], depths=[1], radius=0.7, steps=0)
    geo = layer_geometries([stage], (1, 24, 24))[1]
    assert geo.map_size == 24 and geo.b == pytest.approx(1 / 24)  # centred on input pixel j + 0.5
    assert res.inverse.max() < TINY and (res.none > 0.3).all()


def test_whole_pixel_translation_aligns_exactly_at_every_depth(random_result):
    r = random_result
    assert r.depths == [0, 1, 2]
    for j in (0, 1):  # trans4 and trans-4,8: multiples of the depth-2 stride (4 px)
        assert (r.none[:, j] > 0.3).all()  # the shift is visible before alignment
        assert r.inverse[:, j].max() < TINY
        assert r.optimum[:, j].max() < TINY


def test_depth0_rotation_and_scale_leave_only_interpolation_error(random_result):
    r = random_result
    assert r.optimum[0, 3].max() < TINY  # rot90 is exact on the pixel grid
    for j in (2, 4):  # rot45, scale2
        assert r.optimum[0, j].mean() < DEPTH0_BOUND


def test_random_filters_cannot_be_aligned_for_rotation_and_scale(random_result):
    r = random_result
    for j in (2, 3, 4):  # rot45, rot90, scale2
        for d in (1, 2):
            assert r.inverse[d, j].mean() > LARGE
            assert r.optimum[d, j].mean() > LARGE
            assert r.optimum[d, j].mean() > 1.5 * r.optimum[0, j].mean()


def test_optimum_never_worse_than_either_start(random_result):
    r = random_result
    assert (r.optimum <= r.none + 1e-7).all()
    assert (r.optimum <= r.inverse + 1e-7).all()


def test_deterministic(canvas):
    torch.manual_seed(3)
    model = create_model("CNN", "mnist-trans")
    a = alignment_residual(model, canvas[:4], ["rot:30", "scale:1.5"], depths=[1], steps=5)
    b = alignment_residual(model, canvas[:4], ["rot:30", "scale:1.5"], depths=[1], steps=5)
    assert torch.equal(a.optimum, b.optimum) and torch.equal(a.matrices, b.matrices)


def test_dropout_stages_in_training_mode_give_deterministic_maps():
    """Stages with dropout (the SVHN backbone) run in eval mode; the caller's mode is kept."""
    torch.manual_seed(0)
    stages = [nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Dropout(0.5)), nn.Sequential(nn.Conv2d(4, 4, 3))]
    x = torch.rand(3, 1, 24, 24)
    a = alignment_residual(stages, x, ["rot:90"], depths=[2], steps=0)
    b = alignment_residual(stages, x, ["rot:90"], depths=[2], steps=0)
    assert torch.equal(a.none, b.none) and torch.equal(a.inverse, b.inverse)
    assert all(m.training for s in stages for m in s.modules())


def test_trained_user_stages_with_padding_and_odd_crop(digits):
    """A user network (a plain list of stages, padded and even-kernel convs, an asymmetric crop) trained
    for a few dozen steps: whole-stride shifts still align to ~0 at every depth."""
    torch.manual_seed(0)
    stages = [
        nn.Sequential(nn.Conv2d(1, 8, 4), nn.ReLU(), nn.MaxPool2d(2)),  # 28 -> 25 -> 12 (drops a row)
        nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),  # 12 -> 6
    ]
    head = nn.Sequential(nn.Flatten(), nn.Linear(8 * 6 * 6, 10))
    net = nn.Sequential(*stages, head)
    images, labels = digits
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(net(images), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]  # it did learn something
    geos = layer_geometries(stages, (1, 28, 28))
    assert geos[1].b != pytest.approx(0.0)  # the crop is not centred: the geometry must handle it
    canvas = F.pad(images[:8], (16, 16, 16, 16))  # 60 px, room for shifts
    r = alignment_residual(stages, canvas, ["trans:4", "trans:4,-4", "trans:-8,4"], steps=10)
    assert r.depths == [0, 1, 2]
    assert r.optimum.max() < TINY and r.inverse.max() < TINY
    assert (r.none > 0.1).all()


def test_bad_input_raises_one_line_errors(canvas):
    model = create_model("CNN", "mnist")
    with pytest.raises(StnlabError, match="KIND:VALUE"):
        alignment_residual(model, canvas[:2], ["spin:45"])
    with pytest.raises(StnlabError, match="scale factor must be > 0"):
        alignment_residual(model, canvas[:2], ["scale:0"])
    with pytest.raises(StnlabError, match="depths 0..2"):
        alignment_residual(model, canvas[:2], ["rot:45"], depths=[5])
    with pytest.raises(StnlabError, match="unknown alignment family"):
        alignment_residual(model, canvas[:2], ["rot:45"], family="warp")
    small = canvas[:2, :, 16:44, 16:44]  # 28 px: the depth-2 map is 2x2
    with pytest.raises(StnlabError, match="fewer than"):
        alignment_residual(model, small, ["rot:45"], depths=[2])
    with pytest.raises(StnlabError, match="stages"):
        alignment_residual(nn.Linear(3, 3), small, ["rot:45"])
