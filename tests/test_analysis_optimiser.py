"""The Levenberg-Marquardt alignment optimiser (``align_maps``) on synthetic maps with a known answer.

These fail when the optimiser is wrong (a sign error, a wrong Jacobian, no steps): each recovers a known
transform from the identity start, the Gauss-Newton terms equal those built from autograd Jacobians, and
where theory says the analytic inverse is not the best transform the optimum must beat it by far.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from stnlab.analysis import alignment_residual
from stnlab.analysis.lm_align import _family_jacobian, _LMProblem, _with_gradients, align_maps
from stnlab.analysis.lm_align import apply_points as _apply
from stnlab.geometry import family_matrix, family_size, identity, invert, out_to_in_from_content, warp

SIZE = 32


def blobs(n: int = 2, c: int = 3, size: int = SIZE, seed: int = 0) -> torch.Tensor:
    """``n x c`` smooth, asymmetric maps: a few Gaussian blobs (sigma ~2.5 px) inside radius 0.5."""
    gen = torch.Generator().manual_seed(seed)
    lin = (2 * torch.arange(size, dtype=torch.float32) + 1) / size - 1
    y, x = torch.meshgrid(lin, lin, indexing="ij")
    maps = torch.zeros(n, c, size, size)
    for i in range(n):
        for j in range(c):
            for _ in range(4):
                r, phi = 0.45 * torch.rand(1, generator=gen).sqrt(), 2 * math.pi * torch.rand(1, generator=gen)
                cx, cy, w = r * torch.cos(phi), r * torch.sin(phi), 0.5 + torch.rand(1, generator=gen)
                maps[i, j] += w * torch.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 0.16**2))
    return maps


def disk_points(size: int = SIZE, radius: float = 0.6) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat indices and normalised coordinates (``Q x 2``) of the pixel centres in a centred disk."""
    lin = (2 * torch.arange(size, dtype=torch.float32) + 1) / size - 1
    y, x = torch.meshgrid(lin, lin, indexing="ij")
    q = torch.stack([x.reshape(-1), y.reshape(-1)], 1)
    idx = (q.norm(dim=1) <= radius).nonzero()[:, 0]
    return idx, q[idx]


def problem(a_h_out_to_in: torch.Tensor, n: int = 2) -> tuple[torch.Tensor, ...]:
    """``(target, moved, q, weights)`` for maps ``f`` and ``moved = warp(f, A_h)``."""
    f = blobs(n)
    idx, q = disk_points()
    moved = warp(f, a_h_out_to_in.expand(n, 3, 3))
    return f.flatten(2)[:, :, idx], moved, q, torch.ones(n, len(idx))


@pytest.mark.parametrize(
    ("family", "content"),
    [
        ("rotation", {"angle": math.radians(25)}),
        ("scale", {"scale": 1.3}),
        ("translation", {"shift": (3.0, -2.0)}),
        ("similarity", {"angle": math.radians(-15), "scale": 0.85, "shift": (1.5, 2.5)}),
        ("affine", {"angle": math.radians(10), "scale": (1.2, 0.9), "shear": 0.15}),
    ],
)
def test_recovers_a_known_transform_from_the_identity(family, content):
    a_h = out_to_in_from_content(SIZE, **content)
    target, moved, q, weights = problem(a_h)
    truth = invert(a_h).expand(2, 3, 3)
    # the residual of the true answer: bilinear interpolation error only (0.02-0.03 on these maps)
    at_truth = align_maps(target, moved, truth[:, None], q, weights, family, steps=0)[1]
    first, best, best_m = align_maps(target, moved, identity(2)[:, None], q, weights, family, steps=15)
    assert (first[:, 0] > 0.2).all() and (at_truth < 0.04).all()  # the transform is far from the identity
    assert (best <= 1.01 * at_truth + 1e-6).all(), (best, at_truth)  # the optimiser finds it from there
    assert torch.allclose(best_m, truth, atol=0.01)


@pytest.mark.parametrize("family", ["affine", "similarity", "projective"])
def test_family_jacobian_matches_finite_differences(family):
    torch.manual_seed(0)
    n = family_size(family)
    p = 0.2 * torch.randn(5, n, dtype=torch.float64)
    m, jac = _family_jacobian(family, p)
    assert torch.equal(m, family_matrix(family, p)) and jac.shape == (5, 3, 3, n)
    for k in range(n):
        e = torch.zeros(n, dtype=torch.float64)
        e[k] = 1e-6
        fd = (family_matrix(family, p + e) - family_matrix(family, p - e)) / 2e-6
        assert torch.allclose(jac[..., k], fd, atol=1e-8), k


@pytest.mark.parametrize("family", ["affine", "similarity"])
def test_gauss_newton_terms_equal_the_autograd_jacobian(family):
    """``hess ~ J^T W J`` and ``grad ~ J^T W r`` with ``J`` the autograd Jacobian of the sampled residuals.
    The optimiser uses central-difference map gradients where autograd differentiates the bilinear
    interpolation, so on these smooth maps they agree to a few per cent of the largest entry."""
    a_h = out_to_in_from_content(SIZE, angle=0.3, scale=1.1)
    target, moved, q, weights = problem(a_h, n=1)
    weights[:, ::3] = 0.0  # weights take part
    start = out_to_in_from_content(SIZE, angle=-0.2)[None]  # 1 x 1 x 3 x 3, not the identity
    p = 0.05 * torch.randn(1, 1, family_size(family), generator=torch.Generator().manual_seed(1))
    state = _LMProblem(target, _with_gradients(moved), start, q, weights, family).evaluate(p)

    def residual(params: torch.Tensor) -> torch.Tensor:
        m = start[0] @ family_matrix(family, params[None])
        grid = _apply(m, q)[:, None]  # 1 x 1 x Q x 2
        sampled = nn.functional.grid_sample(moved, grid, mode="bilinear", align_corners=False)[:, :, 0]
        return ((sampled - target) * weights[:, None].sqrt()).flatten()

    r = residual(p[0, 0])
    jac = torch.func.jacrev(residual)(p[0, 0])  # (C Q) x n
    denom = (target.pow(2) * weights[:, None]).sum()
    assert float(state.loss[0, 0]) == pytest.approx(float(r.pow(2).sum() / denom), rel=1e-5)
    grad, hess = jac.T @ r, jac.T @ jac
    cos = torch.nn.functional.cosine_similarity(state.grad[0, 0], grad, dim=0)
    assert cos > 0.999 and torch.allclose(state.grad[0, 0], grad, rtol=0.05, atol=0.05 * grad.abs().max())
    assert torch.allclose(state.hess[0, 0], hess, rtol=0.05, atol=0.05 * hess.abs().max())


def test_optimum_beats_the_inverse_where_theory_says_it_must():
    """A filter that is an off-centre delta (offset d) makes the layer a shift: Γ(f)(p) = f(p + d). A rotation
    about the image centre then acts on the map as the same rotation about the point -d, so the analytic
    inverse (about the centre) is off by ``R d - d`` (4.2 px here) while the exact aligning map — that
    rotation plus a whole-pixel shift — lies in the affine family around it: the optimum must reach ~0."""
    conv = nn.Conv2d(1, 1, 7, padding=3, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 3, 6] = 1.0  # offset d = (+3, 0) px
    images = blobs(n=4, c=1, size=40, seed=2)
    res = alignment_residual([conv], images, ["rot:90"], depths=[1], radius=0.6, steps=10)
    assert (res.inverse[0, 0] > 0.3).all()
    assert (res.optimum[0, 0] < 0.01 * res.inverse[0, 0]).all(), res.optimum
