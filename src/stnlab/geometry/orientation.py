"""The group action on regular C_N feature fields: a spatial warp *and* a shift along the orientation axis.

A rotation-equivariant CNN over the cyclic group C_N (regular representation) has feature maps whose
channels come in *fields* of ``N`` orientation channels each (field-major: channels ``f N .. f N + N - 1``
are field ``f``). Rotating its input by ``360 / N`` degrees rotates every map *and* cyclically shifts the
orientation channels of every field. So a warp of such maps can undo a rotation of the input where a
purely spatial warp cannot (the theorem of Jansson et al. is about the spatial part alone).

Convention (the one of :mod:`stnlab.geometry`, extended): :func:`group_warp` with a sampling matrix ``M``
(output -> input coordinates) warps every map by ``M`` and shifts each field's orientation axis by
``s = phi N / (2 pi)`` channels, where ``phi`` is the rotation angle of ``M`` (:func:`rotation_angle`,
counter-clockwise on screen, as ``warp(x, rotation_matrix(phi))`` turns the content). A shift ``s`` moves
the value of orientation channel ``n`` to channel ``n + s`` (``torch.roll(x, s)`` along the axis): the
direction in which e2cnn's regular fields move when the input turns counter-clockwise, so that for an
equivariant backbone ``Γ`` and rotations by multiples of 90 degrees (exact on the pixel grid)
``Γ(warp(f, M)) == group_warp(Γ(f), M, N)`` up to float rounding (tested).

Between multiples of ``360 / N`` the shift is **band-limited (trigonometric) interpolation** along the
periodic orientation axis: the field's discrete Fourier components ``k`` are multiplied by
``exp(-2 pi i k s / N)``, written as one real ``N x N`` circulant matrix (the periodic sinc / Dirichlet
kernel). It is exactly a cyclic roll for whole ``s``, composes (``shift(shift(x, a), b) == shift(x, a + b)``)
and is smooth in ``s``, so gradients reach the angle. For even ``N`` the Nyquist component cannot be
shifted by a real fraction of a channel; the real-valued convention used here multiplies it by
``cos(pi s)`` (it is 0 at half-channel shifts), so the composition law holds for the other components only.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from stnlab.geometry.matrices import to_homogeneous
from stnlab.geometry.warp import warp


def rotation_angle(matrix: Tensor) -> Tensor:
    """The rotation angle (radians, ``B``) of each matrix's linear part: ``atan2(m10 - m01, m00 + m11)``.

    It is the angle of the rotation closest to the 2x2 part (the rotation factor of its polar decomposition,
    for a positive determinant): exactly the angle of :func:`~stnlab.geometry.rotation_matrix` and of the
    ``rotation`` / ``similarity`` families; for a general affine matrix it ignores the shear and the
    anisotropic scaling, which no orientation shift can follow.
    """
    m = to_homogeneous(matrix)
    return torch.atan2(m[:, 1, 0] - m[:, 0, 1], m[:, 0, 0] + m[:, 1, 1])


def shift_kernel(shift: Tensor, group_order: int) -> Tensor:
    """``B x N x N`` circulant matrices ``K`` with ``(K x)[n] = sum_m D(n - m - s) x[m]`` (``D``: the periodic
    sinc of order ``N``); ``K`` is the permutation of ``torch.roll(x, s)`` for whole shifts ``s`` (``B``)."""
    n = group_order
    idx = torch.arange(n, dtype=shift.dtype, device=shift.device)
    d = torch.remainder(idx[:, None] - idx[None, :] - shift[:, None, None], n)  # B x N x N: n - m - s, mod N
    k = torch.arange(1, (n - 1) // 2 + 1, dtype=shift.dtype, device=shift.device)
    kernel = 1 + 2 * torch.cos(2 * math.pi * k * d[..., None] / n).sum(-1)  # B x N x N
    if n % 2 == 0:
        kernel = kernel + torch.cos(math.pi * d)  # the Nyquist component, real-valued convention
    return kernel / n


def orientation_shift(x: Tensor, shift: Tensor, group_order: int) -> Tensor:
    """Shift the orientation axis of every regular C_N field of ``x`` (``B x F N x H x W``) by ``shift``
    channels (``B``, any real value; see the module docstring for the interpolation)."""
    b, c, h, w = x.shape
    if c % group_order:
        raise ValueError(f"{c} channels are not whole regular fields of C_{group_order}")
    if shift.shape != (b,):
        raise ValueError(f"one shift per sample expected: shape ({b},), got {tuple(shift.shape)}")
    kernel = shift_kernel(shift.to(torch.promote_types(x.dtype, shift.dtype)), group_order)
    fields = x.reshape(b, c // group_order, group_order, h, w)  # B x F x N x H x W
    return torch.einsum("bnm,bfmhw->bfnhw", kernel.to(x.dtype), fields).reshape(b, c, h, w)


def group_warp(x: Tensor, matrix: Tensor, group_order: int, out_size: tuple[int, int] | None = None,
               padding_mode: str = "zeros") -> Tensor:
    """Warp regular C_N feature maps ``x`` (``B x F N x H x W``) by ``matrix`` (``B x 3 x 3`` or ``B x 2 x 3``,
    affine, output -> input) and shift their orientation axes by ``rotation_angle(matrix) N / (2 pi)``.

    Gradients reach ``matrix`` through both actions (the grid sampling and the orientation shift).
    """
    shift = rotation_angle(matrix) * (group_order / (2 * math.pi))  # B, in orientation channels
    moved = warp(x, matrix, out_size=out_size, padding_mode=padding_mode, projective=False)
    return orientation_shift(moved, shift, group_order)
