"""Content parameters <-> sampling matrices: the one place where "what happens to the picture" becomes a warp.

Data sets, augmentation and the analysis describe a transform by what it does to the **content** of an
image, in the units a person thinks in:

* ``angle`` (radians): the content turns **counter-clockwise on screen** (y points down);
* ``scale`` (or ``log_scale``): the content is **magnified** ``scale`` times (``(sx, sy)`` per axis; a
  negative ``sx`` mirrors left-right);
* ``shear``: the factor ``k`` of the content map ``x' = x + k y``;
* ``shift`` ``(dx, dy)`` in **pixels**: the content moves right by ``dx`` and down by ``dy``;
* all of it **about a centre** (pixel coordinates ``(column, row)``, default the image centre).

The content map (input -> output coordinates, ``in_to_out``) is, in normalised coordinates about the
centre, ``T(shift) @ R(-angle) @ Sh(shear) @ S(sx, sy)``; ``warp`` needs its inverse, the sampling matrix
``out_to_in`` (see :mod:`stnlab.geometry`). :func:`out_to_in_from_content` builds it in closed form
(no matrix inversion: a pure rotation gives exactly ``rotation_matrix(angle)``) and
:func:`content_from_out_to_in` recovers the content parameters of any affine sampling matrix.
"""

from __future__ import annotations

import torch
from torch import Tensor

from stnlab.geometry.matrices import Scalar, _batch, _from_rows, decompose, invert, pixels_to_normalized

Size = int | tuple[int, int]


def _hw(size: Size) -> tuple[int, int]:
    """``(height, width)`` from a side or a pair."""
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def _centre_normalized(size: Size, centre: tuple[float, float] | None) -> tuple[float, float]:
    """Normalised ``(x, y)`` of the pixel position ``centre = (column, row)``; ``(0, 0)`` for the image centre."""
    if centre is None:
        return 0.0, 0.0
    h, w = _hw(size)
    return pixels_to_normalized(centre[0] + 0.5, w) - 1.0, pixels_to_normalized(centre[1] + 0.5, h) - 1.0


def out_to_in_from_content(
    size: Size,
    *,
    angle: Scalar = 0.0,
    scale: Scalar | tuple[Scalar, Scalar] = 1.0,
    log_scale: Scalar | None = None,
    shear: Scalar = 0.0,
    shift: tuple[Scalar, Scalar] = (0.0, 0.0),
    centre: tuple[float, float] | None = None,
) -> Tensor:
    """The ``B x 3 x 3`` sampling matrix (output -> input) of a content transform of a ``size`` image.

    ``size``: side or ``(height, width)`` in pixels; the other arguments as in the module docstring
    (``log_scale``, when given, replaces ``scale``). Numbers or ``(B,)`` tensors; differentiable.
    """
    if log_scale is not None:
        scale = torch.exp(torch.as_tensor(log_scale))
    sx, sy = scale if isinstance(scale, tuple) else (scale, scale)
    h, w = _hw(size)
    a, sx, sy, k, tx, ty = _batch(angle, sx, sy, shear, pixels_to_normalized(shift[0], w),
                                  pixels_to_normalized(shift[1], h))  # fmt: skip
    c, s = torch.cos(a), torch.sin(a)
    # inverse of T(t) R(-a) Sh(k) S(sx, sy): S^-1 Sh(-k) R(a) T(-t)
    l00, l01 = (c - k * s) / sx, (-s - k * c) / sx
    l10, l11 = s / sy, c / sy
    cx, cy = _centre_normalized(size, centre)
    # about the centre: T(centre) L T(-t) T(-centre), so the offset is centre - L (t + centre)
    px, py = tx + cx, ty + cy
    ox, oy = cx - (l00 * px + l01 * py), cy - (l10 * px + l11 * py)
    return _from_rows(l00, l01, ox, l10, l11, oy)


def content_from_out_to_in(
    out_to_in: Tensor, size: Size, centre: tuple[float, float] | None = None
) -> dict[str, Tensor]:
    """Content parameters of affine sampling matrices ``out_to_in`` (``B x 3 x 3`` or ``B x 2 x 3``).

    Returns ``(B,)`` tensors ``angle`` (radians, counter-clockwise on screen, in ``[-pi, pi)``),
    ``scale_x``, ``scale_y``, ``scale`` (``sqrt |det|`` of the content map), ``log_scale``, ``shear``,
    ``shift_x``, ``shift_y`` (pixels, about ``centre``). The exact inverse of :func:`out_to_in_from_content`
    for ``scale_x > 0`` (a mirrored content map shows as ``scale_y < 0``, as in :func:`decompose`).
    """
    h, w = _hw(size)
    in_to_out = invert(out_to_in)
    cx, cy = _centre_normalized(size, centre)
    if cx != 0.0 or cy != 0.0:  # the map about the centre: T(-centre) in_to_out T(centre)
        like = {"dtype": in_to_out.dtype, "device": in_to_out.device}  # where the matrices are
        shift = torch.tensor([[1.0, 0.0, cx], [0.0, 1.0, cy], [0.0, 0.0, 1.0]], **like)
        back = torch.tensor([[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]], **like)
        in_to_out = back @ in_to_out @ shift
    # y points down: decompose's angle turns the content clockwise on screen
    parts = decompose(in_to_out)
    return {
        "angle": -parts["angle"],
        "scale_x": parts["scale_x"],
        "scale_y": parts["scale_y"],
        "scale": parts["scale"],
        "log_scale": parts["log_scale"],
        "shear": parts["shear"],
        "shift_x": parts["tx"] * (w / 2.0),
        "shift_y": parts["ty"] * (h / 2.0),
    }
