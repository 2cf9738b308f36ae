"""Rotation: the content turns counter-clockwise on screen about the image centre.

Protocol (the papers' R): angle ``U[-90, 90]`` degrees per sample, on a canvas of the content's side, bilinear.
Analysis value: degrees. Read-out: the angle (degrees) the sampling matrix turns the content
(:func:`stnlab.geometry.content_from_out_to_in`); it wraps at 360 degrees, so slopes are fitted on the
unwrapped angles and the circular correlation is reported too.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from stnlab.data.kinds.base import TransformKind, content_params, register_kind
from stnlab.data.rng import uniform
from stnlab.geometry import content_from_out_to_in, out_to_in_from_content

MAX_ANGLE = math.pi / 2  # the protocol's range: +-90 degrees


def draw(key: int, index: Tensor, content: int, canvas: int, amplitude: float = 1.0) -> dict[str, Tensor]:
    """Angles ``U[-90, 90] * amplitude`` degrees (radians in ``angle``) of the samples ``index``."""
    angle = (uniform(key, index, 1)[:, 0].float() * 2 - 1) * (MAX_ANGLE * amplitude)
    return content_params(canvas, len(index), angle=angle)


def matrix(value: tuple[float, ...], size: int) -> Tensor:
    """The ``1 x 3 x 3`` sampling matrix that turns the content ``value[0]`` degrees counter-clockwise."""
    return out_to_in_from_content(size, angle=math.radians(value[0]))


def read_out(out_to_in: Tensor, size: int) -> Tensor:
    """``(B,)``: the angle (degrees) the sampling matrices turn the content counter-clockwise."""
    return torch.rad2deg(content_from_out_to_in(out_to_in, size)["angle"])


ROTATION = register_kind(TransformKind(
    name="rotation", aliases=("rot",), label="rot", value_unit="degrees", readout_unit="angle (degrees)",
    unit="deg", per_unit=1.0, digits=0, words=("rotation", "rotated", "angle"),
    default_values=tuple(float(v) for v in range(-90, 91, 15)), canvas=lambda content: content, draw=draw,
    matrix=matrix, read_out=read_out, format_value=lambda v: f"{v:+.0f}°", circular=True,
))
