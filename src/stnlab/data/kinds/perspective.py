"""Perspective: the image plane tilts away from the viewer (a kind the papers lack; the registry's proof).

A value ``(px, py)`` is the last row ``[px, py, 1]`` of the sampling matrix ``A = [[1, 0, 0], [0, 1, 0],
[px, py, 1]]`` (normalised coordinates about the centre): output point ``(x, y)`` shows the input at
``(x, y) / (1 + px x + py y)``. With ``px > 0`` the right half comes nearer (magnified) and the left half
recedes (shrunk); ``py`` does the same from top to bottom. Only an ST of the ``projective`` family can undo it.

Protocol: ``px, py ~ U[-0.2, 0.2]`` per sample (a corner moves by up to ~30 % of the half-side), on a canvas of
the content's side, bilinear, zero padding. Analysis value: ``px`` or ``px,py``. Read-out: the x-tilt
``A[2, 0] / A[2, 2]`` of a sampling matrix; an ST that exactly undoes ``A`` predicts ``A^-1``, whose tilt is
``-px`` (slope -1), and an affine ST reads 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

from stnlab.data.kinds.base import TransformKind, content_params, register_kind
from stnlab.data.rng import uniform

MAX_TILT = 0.2


def tilt_matrix(px: Tensor, py: Tensor) -> Tensor:
    """``B x 3 x 3`` sampling matrices ``[[1, 0, 0], [0, 1, 0], [px, py, 1]]`` of ``(B,)`` tilts."""
    m = torch.eye(3, dtype=px.dtype, device=px.device).repeat(len(px), 1, 1)
    m[:, 2, 0], m[:, 2, 1] = px, py
    return m


def draw(key: int, index: Tensor, content: int, canvas: int, amplitude: float = 1.0) -> dict[str, Tensor]:
    """Tilts ``U[-0.2, 0.2] * amplitude`` of the samples ``index``: params ``px``, ``py`` and the ``matrix``
    (with the identity's ``angle``, ``scale``, ``tx``, ``ty``)."""
    tilt = (uniform(key, index, 2).float() * 2 - 1) * (MAX_TILT * amplitude)  # B x 2
    params = content_params(canvas, len(index))
    return {**params, "px": tilt[:, 0], "py": tilt[:, 1], "matrix": tilt_matrix(tilt[:, 0], tilt[:, 1])}


def matrix(value: tuple[float, ...], size: int) -> Tensor:
    """The ``1 x 3 x 3`` sampling matrix of the tilt ``value = (px, py)`` (the same at every image size)."""
    return tilt_matrix(torch.tensor([value[0]]), torch.tensor([value[1]]))


def read_out(out_to_in: Tensor, size: int) -> Tensor:
    """``(B,)``: the x-tilt ``A[2, 0] / A[2, 2]`` of the sampling matrices (0 for an affine one)."""
    return out_to_in[..., 2, 0] / out_to_in[..., 2, 2]


PERSPECTIVE = register_kind(TransformKind(
    name="perspective", aliases=("persp",), label="persp", value_unit="tilt px (normalised)",
    readout_unit="x-tilt (normalised)", unit="tilt", per_unit=1.0, digits=3,
    words=("perspective", "tilted", "x-tilt"), default_values=(-0.2, -0.1, 0.0, 0.1, 0.2),
    canvas=lambda content: content, draw=draw, matrix=matrix, read_out=read_out,
    format_value=lambda v: f"{v:+.2f}", arity=2, linear=False,
))
