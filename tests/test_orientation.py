"""The group action on regular C_N fields: orientation shift (roll, Fourier interpolation), group warp,
rotation angle, the group-aware ST; float64 gradcheck through the channel shift."""

import math

import pytest
import torch
from torch.autograd import gradcheck

from stnlab.geometry import affine_matrix, family_matrix, rotation_matrix, warp
from stnlab.geometry.orientation import group_warp, orientation_shift, rotation_angle
from stnlab.nn import GroupSpatialTransformer, LocalizationNet, SpatialTransformer

torch.set_num_threads(2)


def band_limited(n: int, fields: int = 3, size: int = 5, shift: float = 0.0, dtype=torch.float64) -> torch.Tensor:
    """``1 x fields*n x size x size`` regular fields whose orientation profile has frequencies 0, 1 and 2 only
    (below n / 2 for n >= 5), evaluated at orientation ``o - shift``: the exact shifted signal."""
    o = torch.arange(n, dtype=dtype) - shift  # N
    f = torch.arange(fields, dtype=dtype)[:, None, None, None]
    yx = torch.linspace(-1, 1, size, dtype=dtype)
    space = (yx[:, None] + 2 * yx[None, :])[None, None]  # 1 x 1 x H x W
    phase = 2 * math.pi * o[None, :, None, None] / n
    x = 0.5 + torch.cos(phase + f + space) + 0.3 * torch.sin(2 * phase - f * space)  # F x N x H x W
    return x.reshape(1, fields * n, size, size)


@pytest.mark.parametrize("n", [4, 5, 8])
def test_whole_shifts_are_exactly_cyclic_rolls(n):
    torch.manual_seed(0)
    x = torch.randn(4, 3 * n, 6, 6)
    shifts = torch.tensor([0.0, 1.0, -3.0, n + 2.0])
    out = orientation_shift(x, shifts, n)
    for b, s in enumerate(shifts.tolist()):
        ref = x[b].reshape(3, n, 6, 6).roll(int(s), dims=1).reshape(3 * n, 6, 6)
        assert torch.allclose(out[b], ref, atol=1e-5), s  # float32 rounding of the kernel (~4e-7 per entry)


@pytest.mark.parametrize("n", [5, 8])
@pytest.mark.parametrize("s", [0.25, 0.5, -1.7, 2.3])
def test_fractional_shift_is_exact_on_band_limited_fields(n, s):
    """Trigonometric interpolation reproduces any profile without a Nyquist component exactly."""
    out = orientation_shift(band_limited(n), torch.tensor([s], dtype=torch.float64), n)
    assert torch.allclose(out, band_limited(n, shift=s), atol=1e-12)


def test_shifts_compose_and_even_orders_scale_the_nyquist_component():
    x = band_limited(8)
    a, b = torch.tensor([0.3], dtype=torch.float64), torch.tensor([1.45], dtype=torch.float64)
    twice = orientation_shift(orientation_shift(x, a, 8), b, 8)
    assert torch.allclose(twice, orientation_shift(x, a + b, 8), atol=1e-12)
    nyquist = torch.tensor([1.0, -1.0] * 4, dtype=torch.float64).repeat(2)[None, :, None, None]  # 1 x 16 x 1 x 1
    half = orientation_shift(nyquist, torch.tensor([0.5], dtype=torch.float64), 8)
    assert half.abs().max() < 1e-12  # cos(pi / 2): the documented real-valued convention


def test_gradcheck_through_the_orientation_shift():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 3, 3, dtype=torch.float64, requires_grad=True)
    s = torch.tensor([0.3, -1.2], dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda x, s: orientation_shift(x, s, 4), (x, s), fast_mode=True)


def test_gradcheck_of_the_group_warp_in_its_angle_and_shift():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 4, 4, dtype=torch.float64)
    p = torch.tensor([[0.4, 0.1, 0.05, -0.1], [-0.9, -0.2, 0.0, 0.1]], dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda p: group_warp(x, family_matrix("similarity", p), 4), (p,), fast_mode=True)


def test_the_angle_gets_a_gradient_from_each_action():
    """Maps constant in space feel the angle only through the shift; maps constant over orientation only
    through the spatial warp."""
    torch.manual_seed(0)
    flat = torch.randn(1, 8, 1, 1).expand(1, 8, 6, 6).contiguous()
    spatial = torch.randn(1, 2, 6, 6).repeat_interleave(4, dim=1)
    for maps in (flat, spatial):
        angle = torch.tensor([0.2], requires_grad=True)
        (group_warp(maps, rotation_matrix(angle), 4)[..., 2:4, 2:4] * torch.arange(8.0)[:, None, None]).sum().backward()
        assert angle.grad.abs() > 1e-4
    only_spatial = torch.tensor([0.2], requires_grad=True)
    (warp(flat, rotation_matrix(only_spatial))[..., 2:4, 2:4] * torch.arange(8.0)[:, None, None]).sum().backward()
    assert only_spatial.grad.abs() < 1e-6  # the spatial warp alone cannot see it


def test_rotation_angle_of_rotations_similarities_and_stretched_rotations():
    a = torch.tensor([0.3, -2.5, 3.0])
    assert torch.allclose(rotation_angle(rotation_matrix(a)), a, atol=1e-6)
    sim = family_matrix("similarity", torch.stack([a, torch.full_like(a, 0.4), a, -a], 1))
    assert torch.allclose(rotation_angle(sim), a, atol=1e-6)
    stretched = affine_matrix(a, scale=(1.5, 0.7))  # R(a) @ S with S positive definite: its polar factor is R(a)
    assert torch.allclose(rotation_angle(stretched), a, atol=1e-6)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_group_warp_at_quarter_turns_is_rot90_plus_a_roll(k):
    torch.manual_seed(0)
    x = torch.randn(2, 16, 7, 7)
    out = group_warp(x, rotation_matrix(torch.full((2,), k * math.pi / 2)), 8)
    ref = torch.rot90(x, k, dims=(-2, -1)).reshape(2, 2, 8, 7, 7).roll(2 * k, dims=2).reshape(2, 16, 7, 7)
    assert torch.allclose(out, ref, atol=1e-5)


def _loc_net(channels: int, bias: torch.Tensor) -> LocalizationNet:
    """A loc-net on ``channels x 4 x 4`` maps that always predicts ``bias``."""
    net = LocalizationNet(torch.nn.Identity(), torch.nn.Flatten(), (channels, 4, 4), bias.numel())
    with torch.no_grad():
        net.out.bias.copy_(bias)
    return net


def test_group_st_applies_the_predicted_rotation_to_space_and_orientation():
    torch.manual_seed(0)
    x = torch.randn(3, 16, 4, 4)
    st = GroupSpatialTransformer(_loc_net(16, torch.tensor([math.pi / 2])), 8, family="rotation")
    out, m = st(x)
    assert torch.allclose(out, group_warp(x, m, 8)) and torch.allclose(rotation_angle(m), torch.full((3,), math.pi / 2))
    plain = SpatialTransformer(_loc_net(16, torch.tensor([math.pi / 2])), family="rotation")
    same = GroupSpatialTransformer.from_spatial(plain, 8)
    assert same.loc_nets[0] is plain.loc_nets[0] and torch.allclose(same(x)[0], out)


def test_group_st_refuses_projective_and_partial_fields():
    with pytest.raises(ValueError, match="affine family"):
        GroupSpatialTransformer(_loc_net(16, torch.zeros(8)), 8, family="projective")
    st = GroupSpatialTransformer(_loc_net(12, torch.zeros(1)), 8, family="rotation")
    with pytest.raises(ValueError, match="not whole regular fields"):
        st(torch.zeros(1, 12, 4, 4))
