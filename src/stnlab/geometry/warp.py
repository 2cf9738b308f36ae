"""Resampling a batch of images (or feature maps) with a batch of matrices."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from stnlab.geometry.matrices import to_homogeneous


def is_affine(matrix: Tensor) -> bool:
    """True when every matrix has last row ``[0, 0, 1]`` (no perspective division needed)."""
    m = to_homogeneous(matrix)
    last = m[:, 2, :].detach()
    return bool((last[:, :2] == 0).all() and (last[:, 2] == 1).all())


def sampling_grid(matrix: Tensor, size: tuple[int, int, int, int]) -> Tensor:
    """The ``B x H x W x 2`` grid of input coordinates for an output of ``size = (B, C, H, W)``.

    Equal to ``affine_grid(matrix[:, :2], size, align_corners=False)`` for affine matrices, built by
    broadcasting the matrix entries over the pixel centres (forward + backward of a warp was 1.3-2x
    faster than with ``affine_grid`` on this CPU); projective matrices add the perspective division.
    """
    m = to_homogeneous(matrix)
    _, _, h, w = size
    xs = (torch.arange(w, dtype=m.dtype, device=m.device) * 2 + 1) / w - 1  # pixel centres, W
    ys = ((torch.arange(h, dtype=m.dtype, device=m.device) * 2 + 1) / h - 1)[:, None]  # H x 1
    e = m[:, :, :, None, None]  # B x 3 x 3 x 1 x 1
    gx = e[:, 0, 0] * xs + e[:, 0, 1] * ys + e[:, 0, 2]  # B x H x W
    gy = e[:, 1, 0] * xs + e[:, 1, 1] * ys + e[:, 1, 2]
    if not is_affine(m):
        gz = e[:, 2, 0] * xs + e[:, 2, 1] * ys + e[:, 2, 2]
        gx, gy = gx / gz, gy / gz
    return torch.stack([gx, gy], dim=-1)


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
