"""Scale: the content is magnified about the image centre (a factor below 1 shrinks it).

Protocol (the papers' S): factor ``2**U(-1, 2)`` (0.5x to 4x) per sample; the content is centred on a canvas
of ``N + 2 round(1.5 N)`` pixels (112 for 28-pixel MNIST) with clutter: 6 crops resized to ``2k x 2k``.
Analysis value: the factor (> 0). Read-out: the natural log of the magnification; reports show it in
octaves (log2).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from stnlab.data.kinds.base import TransformKind, content_params, register_kind
from stnlab.data.rng import uniform
from stnlab.geometry import content_from_out_to_in, out_to_in_from_content


def canvas(content: int) -> int:
    """The protocol's canvas side: the content padded by 1.5 times its side on each side (28 -> 112)."""
    return content + 2 * round(1.5 * content)


def draw(key: int, index: Tensor, content: int, canvas: int, amplitude: float = 1.0) -> dict[str, Tensor]:
    """Factors ``2**(U(-1, 2) * amplitude)`` of the samples ``index``."""
    scale = torch.exp2((uniform(key, index, 1)[:, 0].float() * 3 - 1) * amplitude)
    return content_params(canvas, len(index), scale=scale)


def matrix(value: tuple[float, ...], size: int) -> Tensor:
    """The ``1 x 3 x 3`` sampling matrix that magnifies the content ``value[0]`` times."""
    return out_to_in_from_content(size, scale=value[0])


def read_out(out_to_in: Tensor, size: int) -> Tensor:
    """``(B,)``: the natural log of the content's magnification by the sampling matrices."""
    return content_from_out_to_in(out_to_in, size)["log_scale"]


SCALE = register_kind(TransformKind(
    name="scale", aliases=(), label="scale", value_unit="scale factor", readout_unit="log-scale",
    unit="octaves", per_unit=1 / math.log(2), digits=2, words=("scaling", "scaled", "log2-scale"),
    default_values=(0.5, 0.63, 0.79, 1.0, 1.26, 1.59, 2.0), canvas=canvas, draw=draw, matrix=matrix,
    read_out=read_out, format_value=lambda v: f"x{v:.2g}", positive=True, separable=True, clutter="resized",
))
