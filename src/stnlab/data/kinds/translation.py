"""Translation: the content moves right by ``dx`` and down by ``dy`` pixels.

Protocol (the papers' T): whole-pixel shifts ``U{-p..p}`` per axis with ``p = round(16 N / 28)`` (16 for
28-pixel MNIST), the content centred on a canvas padded by ``p`` (60 px), with clutter: 6 crops of training
images. Analysis value: ``dx`` or ``dx,dy`` input pixels. Read-out: minus the x of the input point that the
output's centre samples, in input pixels -- the content's shift for a pure translation, and for a matrix
that also zooms or turns still the shift that brings that point to the centre (the content shift of the
whole map, ``-L^-1 t``, would scale with the zoom: an ST that centres every digit while zooming in 1.13x
would read a slope of -1.13 rather than -1). Translations are not linear maps about the centre.
"""

from __future__ import annotations

from torch import Tensor

from stnlab.data.kinds.base import TransformKind, content_params, register_kind
from stnlab.data.rng import randint
from stnlab.geometry import out_to_in_from_content


def translation_pad(content: int) -> int:
    """Padding (and largest shift, in pixels) of the translation protocol: 16 for 28-pixel content."""
    return round(16 * content / 28)


def canvas(content: int) -> int:
    """The protocol's canvas side: the content padded by :func:`translation_pad` on each side (28 -> 60)."""
    return content + 2 * translation_pad(content)


def draw(key: int, index: Tensor, content: int, canvas: int, amplitude: float = 1.0) -> dict[str, Tensor]:
    """Whole-pixel shifts ``U{-p..p}`` per axis of the samples ``index``, times ``amplitude`` (rounded)."""
    most = translation_pad(content)
    shift = randint(key, index, 2, 2 * most + 1).float() - most  # B x 2, whole pixels
    shift = shift if amplitude == 1.0 else (shift * amplitude).round()
    return content_params(canvas, len(index), shift=shift)


def matrix(value: tuple[float, ...], size: int) -> Tensor:
    """The ``1 x 3 x 3`` sampling matrix that moves the content by ``value = (dx, dy)`` pixels."""
    return out_to_in_from_content(size, shift=value)


def read_out(out_to_in: Tensor, size: int) -> Tensor:
    """``(B,)``: the shift to the right (input pixels) that brings the point the output's centre samples
    there (see the module docstring)."""
    return -out_to_in[..., 0, 2] * (size / 2.0)


TRANSLATION = register_kind(TransformKind(
    name="translation", aliases=("trans", "shift"), label="trans", value_unit="input pixels, + = right",
    readout_unit="shift x (input pixels)", unit="px", per_unit=1.0, digits=1, words=("translation", "shifted", "shift"),
    default_values=(-6.0, -4.0, -2.0, 0.0, 2.0, 4.0, 6.0), canvas=canvas, draw=draw, matrix=matrix,
    read_out=read_out, format_value=lambda v: f"{v:+.0f} px", arity=2, linear=False, separable=True,
    clutter="crops",
))
