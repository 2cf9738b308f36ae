"""Geometry: convention, families, builders, compose/invert/decompose, warp (float64 gradcheck)."""

import math

import pytest
import torch
from torch.autograd import gradcheck

from stnlab import geometry as g

torch.set_num_threads(2)


def smooth_image(b: int = 2, c: int = 3, size: int = 32, dtype=torch.float32) -> torch.Tensor:
    """A smooth, non-symmetric test pattern so interpolation error stays small."""
    lin = torch.linspace(-1, 1, size, dtype=dtype)
    y, x = torch.meshgrid(lin, lin, indexing="ij")
    imgs = [torch.sin(3 * x + k) * torch.cos(2 * y - 0.5 * k) + 0.3 * x * y for k in range(b * c)]
    return torch.stack(imgs).reshape(b, c, size, size)


@pytest.mark.parametrize("family", sorted(g.FAMILIES))
def test_family_identity_at_zero(family):
    n = g.family_size(family)
    m = g.family_matrix(family, torch.zeros(4, n))
    assert torch.equal(m, g.identity(4))


@pytest.mark.parametrize("family", sorted(g.FAMILIES))
def test_family_gradcheck(family):
    p = (0.3 * torch.randn(3, g.family_size(family), dtype=torch.float64)).requires_grad_()
    assert gradcheck(lambda q: g.family_matrix(family, q), (p,))


def test_family_bad_shape_and_name():
    with pytest.raises(ValueError, match="takes B x 6"):
        g.family_matrix("affine", torch.zeros(2, 4))
    with pytest.raises(ValueError, match="valid: affine"):
        g.family_size("shear-only")


@pytest.mark.parametrize("projective", [False, True])
def test_warp_gradcheck(projective):
    torch.manual_seed(0)
    x = torch.randn(2, 2, 6, 7, dtype=torch.float64, requires_grad=True)
    m = g.affine_matrix(torch.tensor([0.3, -0.2]), 1.1, (0.1, -0.05), 0.1).double()
    if projective:
        m = m.clone()
        m[:, 2, :2] = torch.tensor([[0.05, -0.03], [0.02, 0.04]], dtype=torch.float64)
    else:
        m = m[:, :2, :].contiguous()  # 2 x 3 form: the affine path reads only these entries
    m.requires_grad_()
    assert gradcheck(lambda a, b: g.warp(a, b, padding_mode="border"), (x, m))


def test_builders_gradcheck():
    args = [torch.tensor([0.4, -1.0], dtype=torch.float64, requires_grad=True) for _ in range(5)]
    fn = lambda a, s, k, tx, ty: g.affine_matrix(a, s.exp(), (tx, ty), k)  # noqa: E731
    assert gradcheck(fn, tuple(args))


def test_compose_invert_is_identity():
    torch.manual_seed(1)
    a = g.affine_matrix(torch.rand(5) * 6 - 3, torch.rand(5) + 0.5, (torch.randn(5), torch.randn(5)), 0.3)
    eye = g.identity(5)
    assert torch.allclose(g.compose(a, g.invert(a)), eye, atol=1e-5)
    assert torch.allclose(g.compose(g.invert(a), a), eye, atol=1e-5)
    p = g.family_matrix("projective", 0.1 * torch.randn(5, 8))
    assert torch.allclose(g.compose(p, g.invert(p)), eye, atol=1e-5)


def test_decompose_recovers_parameters():
    torch.manual_seed(2)
    angle = torch.rand(100, dtype=torch.float64) * 2 * math.pi - math.pi
    sx, sy = torch.rand(100, dtype=torch.float64) + 0.3, torch.rand(100, dtype=torch.float64) + 0.3
    shear, tx, ty = torch.randn(3, 100, dtype=torch.float64)
    d = g.decompose(g.affine_matrix(angle, (sx, sy), (tx, ty), shear))
    for key, ref in [("angle", angle), ("scale_x", sx), ("scale_y", sy), ("shear", shear), ("tx", tx), ("ty", ty)]:
        assert torch.allclose(d[key], ref, atol=1e-9), key
    assert torch.allclose(d["scale"], (sx * sy).sqrt())
    refl = g.decompose(g.affine_matrix(0.3, (1.0, -2.0)))
    assert refl["det"].item() < 0 and refl["scale_y"].item() == pytest.approx(-2.0)


def test_rotation_by_90_degrees_matches_rot90():
    x = torch.rand(3, 2, 16, 16)
    y = g.warp(x, g.rotation_matrix(torch.full((3,), math.pi / 2)))
    # with align_corners=False a 90-degree turn maps pixel centres onto pixel centres: exact up to rounding
    assert torch.allclose(y, torch.rot90(x, 1, dims=(-2, -1)), atol=1e-5)
    y = g.warp(x, g.rotation_matrix(torch.full((3,), -math.pi / 2)))
    assert torch.allclose(y, torch.rot90(x, -1, dims=(-2, -1)), atol=1e-5)


@pytest.mark.parametrize("dx,dy", [(3, 0), (0, -2), (4, 5)])
def test_whole_pixel_translation_matches_roll(dx, dy):
    x = torch.rand(2, 3, 20, 24)
    m = g.translation_matrix(g.pixels_to_normalized(dx, 24), g.pixels_to_normalized(dy, 20)).expand(2, 3, 3)
    y = g.warp(x, m)
    rolled = torch.roll(x, shifts=(-dy, -dx), dims=(-2, -1))  # sampling at p + t moves content by -t
    inner = (slice(None), slice(None), slice(6, -6), slice(6, -6))
    assert torch.allclose(y[inner], rolled[inner], atol=1e-5)


def test_rotate_then_unrotate_returns_interior():
    x = smooth_image(size=48)
    a = torch.tensor([0.7, -1.1])
    back = g.warp(g.warp(x, g.rotation_matrix(a)), g.rotation_matrix(-a))
    inner = (slice(None), slice(None), slice(14, -14), slice(14, -14))
    err = (back - x)[inner].abs().max().item()
    assert err < 0.05, err  # two bilinear resamplings of a smooth image


def test_warp_composition_equals_single_warp():
    x = smooth_image(size=64)
    a = g.affine_matrix(torch.tensor([0.3, -0.4]), 0.9, (0.05, -0.1), 0.1)
    b = g.affine_matrix(torch.tensor([-0.2, 0.5]), 1.1, (-0.1, 0.02))
    two = g.warp(g.warp(x, a), b)
    one = g.warp(x, g.compose(a, b))
    inner = (slice(None), slice(None), slice(20, -20), slice(20, -20))
    assert (two - one)[inner].abs().max().item() < 0.05


def test_projective_with_affine_last_row_equals_affine_path():
    x = torch.rand(2, 1, 12, 12)
    a = g.affine_matrix(torch.tensor([0.2, 0.5]), 1.2, (0.1, 0.0))
    assert g.is_affine(a)
    # route the same matrix through the projective path: scale all entries (homogeneous equivalence)
    scaled = 2.0 * a
    assert not g.is_affine(scaled)
    assert torch.allclose(g.warp(x, scaled), g.warp(x, a), atol=1e-5)


def test_warp_out_size_and_2x3_input():
    x = torch.rand(2, 1, 10, 10)
    eye23 = torch.eye(2, 3).expand(2, 2, 3)
    assert torch.allclose(g.warp(x, eye23), x, atol=1e-6)
    assert g.warp(x, eye23, out_size=(5, 7)).shape == (2, 1, 5, 7)
    with pytest.raises(ValueError, match="batch sizes differ"):
        g.warp(x, g.identity(3))


def test_sampling_grid_equals_affine_grid():
    from stnlab.geometry.warp import sampling_grid

    m = g.affine_matrix(torch.tensor([0.3, -1.2, 2.0]), 1.3, (0.2, -0.1), 0.4)
    for size in [(3, 2, 7, 11), (3, 1, 28, 28), (3, 4, 1, 5)]:
        ref = torch.nn.functional.affine_grid(m[:, :2], list(size), align_corners=False)
        assert torch.allclose(sampling_grid(m, size), ref, atol=1e-6)
