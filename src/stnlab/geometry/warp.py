"""Resampling a batch of images (or feature maps) with a batch of matrices."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from stnlab.geometry.matrices import to_homogeneous


def is_affine(matrix: Tensor) -> bool:
    """True when every matrix has last row ``[0, 0, 1]`` (so ``affine_grid`` applies)."""
    m = to_homogeneous(matrix)
    last = m[:, 2, :].detach()
    return bool((last[:, :2] == 0).all() and (last[:, 2] == 1).all())


def sampling_grid(matrix: Tensor, size: tuple[int, int, int, int]) -> Tensor:
    """The ``B x H x W x 2`` grid of input coordinates for an output of ``size = (B, C, H, W)``."""
    m = to_homogeneous(matrix)
    if is_affine(m):
        return F.affine_grid(m[:, :2, :], list(size), align_corners=False)
    eye = torch.eye(2, 3, dtype=m.dtype, device=m.device).expand(size[0], 2, 3)
    base = F.affine_grid(eye, list(size), align_corners=False)  # B x H x W x 2
    b, h, w, _ = base.shape
    pts = torch.cat([base, torch.ones_like(base[..., :1])], dim=-1).reshape(b, h * w, 3)
    pts = pts @ m.transpose(1, 2)  # B x HW x 3, homogeneous input coordinates
    return (pts[..., :2] / pts[..., 2:]).reshape(b, h, w, 2)


def warp(
    x: Tensor,
    matrix: Tensor,
    out_size: tuple[int, int] | None = None,
    padding_mode: str = "zeros",
    mode: str = "bilinear",
) -> Tensor:
    """Warp ``x`` (``B x C x H x W``) so that ``out[p] = x[matrix @ p]`` (normalised coordinates).

    ``matrix`` is ``B x 3 x 3`` (affine or projective) or ``B x 2 x 3``; ``out_size = (H', W')`` defaults
    to the input size. ``padding_mode`` and ``mode`` are passed to ``grid_sample``.
    """
    if x.dim() != 4:
        raise ValueError(f"warp expects B x C x H x W, got shape {tuple(x.shape)}")
    if matrix.shape[0] != x.shape[0]:
        raise ValueError(f"batch sizes differ: images {x.shape[0]}, matrices {matrix.shape[0]}")
    h, w = out_size if out_size is not None else x.shape[-2:]
    grid = sampling_grid(matrix.to(x.dtype), (x.shape[0], x.shape[1], h, w))
    return F.grid_sample(x, grid, mode=mode, padding_mode=padding_mode, align_corners=False)
