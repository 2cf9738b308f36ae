"""The Levenberg-Marquardt optimiser behind :func:`stnlab.analysis.alignment_residual`: :func:`align_maps` finds,
for many pairs of feature maps at once, the spatial transform ``T_g`` (within a transform family) that best
aligns one map to the other at given comparison points (coordinates: :mod:`stnlab.geometry`'s normalised,
``align_corners=False`` convention; matrices map output -> input points)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from stnlab.geometry import family_matrix, family_size


def apply_points(m: Tensor, q: Tensor) -> Tensor:
    """Points ``q`` (``Q x 2``) mapped by matrices ``m`` (``... x 3 x 3``) -> ``... x Q x 2``."""
    return q @ m[..., :2, :2].transpose(-1, -2) + m[..., None, :2, 2]


def _family_jacobian(family: str, params: Tensor) -> tuple[Tensor, Tensor]:
    """``family_matrix`` at ``params`` (``P x n``) and its exact derivative ``P x 3 x 3 x n``.

    Reverse-mode autodiff (``torch.func.jacrev``) of the batch sum: row ``i`` of the matrices depends only on
    row ``i`` of ``params``, so the sum's Jacobian holds every per-row Jacobian (9 backward passes in all).
    """
    jac = torch.func.jacrev(lambda p: family_matrix(family, p).sum(0))(params)  # 3 x 3 x P x n
    return family_matrix(family, params), jac.permute(2, 0, 1, 3)


def _with_gradients(maps: Tensor) -> Tensor:
    """``B x 3C x H x W``: the maps and their x/y derivatives per normalised unit (central differences)."""
    h, w = maps.shape[-2:]
    pad = F.pad(maps, (1, 1, 1, 1), mode="replicate")
    gx = (pad[..., 1:-1, 2:] - pad[..., 1:-1, :-2]) * (w / 4)  # d/dx, x in [-1, 1] spans w pixels
    gy = (pad[..., 2:, 1:-1] - pad[..., :-2, 1:-1]) * (h / 4)
    return torch.cat([maps, gx, gy], dim=1)


class _LMState(NamedTuple):
    """Per (pair, start): ``loss`` ``B x S``, ``matrix`` ``B x S x 3 x 3``, Gauss-Newton ``hess``
    ``B x S x n x n`` and ``grad`` ``B x S x n`` (half the gradient of ``loss`` times its denominator)."""

    loss: Tensor
    matrix: Tensor
    hess: Tensor
    grad: Tensor


@dataclass(frozen=True)
class _LMProblem:
    """The fixed data of :func:`align_maps` (shapes there); :meth:`evaluate` gives the LM quantities."""

    target: Tensor
    stacked: Tensor  # B x 3C x H x W: the moved maps and their spatial gradients
    starts: Tensor  # B x S x 3 x 3
    q: Tensor
    weights: Tensor
    family: str

    def evaluate(self, params: Tensor) -> _LMState:
        """Loss, matrices, Gauss-Newton Hessian and gradient at ``params`` (``B x S x n``)."""
        b, s, n = params.shape
        c, weights = self.target.shape[1], self.weights
        denom = (self.target.pow(2) * weights[:, None]).sum(dim=(1, 2)).clamp_min(1e-12)  # B
        fm, dfm = _family_jacobian(self.family, params.reshape(-1, n))
        starts = self.starts.reshape(b * s, 3, 3)
        m = (starts @ fm).view(b, s, 3, 3)
        dm = torch.einsum("pij,pjkn->pikn", starts, dfm)[:, :2].reshape(b, s, 2, 3, n)  # d(2x3 rows)/dp
        grid = apply_points(m, self.q)
        sampled = F.grid_sample(self.stacked, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        val, gx, gy = sampled[:, :c], sampled[:, c : 2 * c], sampled[:, 2 * c :]  # each B x C x S x Q
        r = val - self.target[:, :, None]  # B x C x S x Q
        loss = (r.pow(2).sum(1) * weights[:, None]).sum(-1) / denom[:, None]  # B x S
        # channel sums first (the large dimension), then the small per-point 2 x n algebra
        wq = weights[:, None, :, None, None]  # B x 1 x Q x 1 x 1
        sxx, sxy, syy = (gx * gx).sum(1), (gx * gy).sum(1), (gy * gy).sum(1)  # B x S x Q
        struct = torch.stack([torch.stack([sxx, sxy], -1), torch.stack([sxy, syy], -1)], -2) * wq  # B S Q 2 2
        rg = torch.stack([(gx * r).sum(1), (gy * r).sum(1)], -1)[..., None] * wq  # B x S x Q x 2 x 1
        qh = torch.cat([self.q, torch.ones_like(self.q[:, :1])], dim=1)  # Q x 3
        dg = torch.einsum("bsikn,qk->bsqin", dm, qh)  # B x S x Q x 2 x n: d(grid point)/d(params)
        dgt = dg.transpose(-1, -2)  # B x S x Q x n x 2
        return _LMState(loss, m, (dgt @ struct @ dg).sum(2), (dgt @ rg).sum(2)[..., 0])


def align_maps(
    target: Tensor,
    moved: Tensor,
    starts: Tensor,
    q: Tensor,
    weights: Tensor,
    family: str = "affine",
    steps: int = 10,
) -> tuple[Tensor, Tensor, Tensor]:
    """Optimise ``T_g`` for many pairs at once; the core of :func:`alignment_residual`.

    ``target``: ``B x C x Q`` values of Γ_k(f) at the comparison points ``q`` (``Q x 2``, normalised layer
    coordinates); ``moved``: ``B x C x H x W`` maps Γ_k(T_h f); ``starts``: ``B x S x 3 x 3`` start
    matrices; ``weights``: ``B x Q`` (1 = compare). ``T_g = start @ family_matrix(family, p)`` with ``p``
    zero at first, minimised by ``steps`` Levenberg-Marquardt iterations per pair (Gauss-Newton on the
    bilinearly sampled maps with central-difference spatial gradients; a step is kept only when it lowers
    that pair's error, else the damping grows). Returns ``(start_residuals B x S, best_residuals B,
    best_matrices B x 3 x 3)``; errors only ever go down, so the best is never worse than any start.
    """
    b, s = starts.shape[:2]
    n = family_size(family)
    problem = _LMProblem(target, _with_gradients(moved), starts, q, weights, family)
    params = torch.zeros(b, s, n)
    state = problem.evaluate(params)
    first = state.loss.clone()
    damping = torch.full((b, s), 1e-3)
    eye = torch.eye(n)
    for _ in range(steps):
        diag = torch.diagonal(state.hess, dim1=-2, dim2=-1)  # B x S x n
        system = state.hess + (damping[..., None] * diag + 1e-9 * diag.mean(-1, keepdim=True) + 1e-12)[..., None] * eye
        trial = params - torch.linalg.solve(system, state.grad[..., None])[..., 0]
        new = problem.evaluate(trial)
        ok = new.loss < state.loss  # B x S
        params = torch.where(ok[..., None], trial, params)
        state = _LMState(*(torch.where(ok.view(b, s, *[1] * (x.dim() - 2)), x, old) for x, old in zip(new, state)))
        damping = torch.where(ok, damping / 3, damping * 4).clamp(1e-7, 1e7)
    pick = state.loss.argmin(dim=1)  # B
    rows = torch.arange(b)
    return first.sqrt(), state.loss[rows, pick].sqrt(), state.matrix[rows, pick]


__all__ = ["align_maps", "apply_points"]
