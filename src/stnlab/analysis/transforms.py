"""Input transforms ``T_h`` named by kind and magnitude, as the analysis applies them to images.

A transform is given in the units a user thinks in — degrees, a content scale factor, pixels — and
turned into the 3x3 warp matrix of :mod:`stnlab.geometry` (output -> input coordinates) by
:func:`stnlab.geometry.out_to_in_from_content`:

============  =====================  ================================================================
kind          value                  the transformed image ``T_h f``
============  =====================  ================================================================
rotation      degrees                content turned counter-clockwise on screen by ``value`` degrees
scale         factor ``s > 0``       content enlarged ``s`` times about the centre (``s < 1`` shrinks)
translation   ``dx`` or ``dx,dy``    content moved right by ``dx`` and down by ``dy`` input pixels
============  =====================  ================================================================

Strings such as ``"rotation:45"``, ``"rot:90"``, ``"scale:2"``, ``"translation:4,-4"`` or ``"trans:8"``
are parsed by :func:`parse_transform`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor

from stnlab.errors import StnlabError
from stnlab.geometry import content_from_out_to_in, out_to_in_from_content

KINDS = ("rotation", "scale", "translation")
PARAMETER_UNITS = {"rotation": "angle (degrees)", "scale": "log-scale", "translation": "shift x (input pixels)"}
_ALIASES = {
    "rot": "rotation",
    "rotation": "rotation",
    "scale": "scale",
    "trans": "translation",
    "translation": "translation",
    "shift": "translation",
}


@dataclass(frozen=True)
class InputTransform:
    """One input transform: ``kind`` in :data:`KINDS` and its magnitude (see the module docstring)."""

    kind: str
    value: tuple[float, ...]

    @property
    def label(self) -> str:
        """Short label for tables and plots, e.g. ``rot45``, ``scale2``, ``trans4,0``."""
        v = ",".join(f"{x:g}" for x in self.value)
        return {"rotation": "rot", "scale": "scale", "translation": "trans"}[self.kind] + v

    def matrix(self, image_size: int) -> Tensor:
        """The ``1 x 3 x 3`` sampling (output -> input) matrix ``A_h`` with ``T_h f = warp(f, A_h)``."""
        if self.kind == "rotation":
            return out_to_in_from_content(image_size, angle=math.radians(self.value[0]))
        if self.kind == "scale":
            return out_to_in_from_content(image_size, scale=self.value[0])
        return out_to_in_from_content(image_size, shift=self.value)

    def content_value(self, out_to_in: Tensor, image_size: int) -> Tensor:
        """``(B,)``: the parameter of this kind of sampling matrices ``out_to_in`` in the units of
        :data:`PARAMETER_UNITS` (degrees, log-scale, pixels along x): the inverse of :meth:`matrix`.

        For translations it is minus the x of the input point that the output's centre samples, in input
        pixels: the content's shift for a pure translation, and for a matrix that also zooms or turns still
        the shift that brings that point to the centre. (The content shift of the whole map, ``-L^-1 t``,
        would scale with the zoom: an ST that centres every digit while zooming in 1.13x would read a slope
        of -1.13 rather than -1.)
        """
        if self.kind == "translation":
            return -out_to_in[..., 0, 2] * (image_size / 2.0)
        content = content_from_out_to_in(out_to_in, image_size)
        return torch.rad2deg(content["angle"]) if self.kind == "rotation" else content["log_scale"]

    def is_linear(self) -> bool:
        """True for rotations and scalings (linear maps about the centre), the theorem's setting."""
        return self.kind != "translation"


def parse_transform(text: str) -> InputTransform:
    """Parse ``KIND:VALUE`` (e.g. ``rot:45``, ``scale:0.5``, ``trans:4,-4``) into an :class:`InputTransform`."""
    kind, sep, raw = text.strip().partition(":")
    if not sep or kind.lower() not in _ALIASES:
        raise StnlabError(
            f"bad transform {text!r}; write KIND:VALUE with KIND one of rotation/rot, scale, "
            "translation/trans, e.g. rot:45, scale:2, trans:4,-4"
        )
    kind = _ALIASES[kind.lower()]
    try:
        values = tuple(float(v) for v in raw.split(","))
    except ValueError:
        raise StnlabError(f"bad transform value in {text!r}; use numbers, e.g. rot:45 or trans:4,-4") from None
    if kind == "translation" and len(values) == 1:
        values = (values[0], 0.0)
    expected = 2 if kind == "translation" else 1
    if len(values) != expected or not all(math.isfinite(v) for v in values):
        raise StnlabError(f"transform {text!r}: {kind} takes {expected} finite number(s)")
    if kind == "scale" and values[0] <= 0:
        raise StnlabError(f"transform {text!r}: a scale factor must be > 0 (e.g. scale:2 or scale:0.5)")
    return InputTransform(kind, values)


def parse_transforms(texts: Iterable[str | InputTransform]) -> list[InputTransform]:
    """Parse several transforms (strings or ready :class:`InputTransform` objects); at least one."""
    out = [t if isinstance(t, InputTransform) else parse_transform(t) for t in texts]
    if not out:
        raise StnlabError("no input transforms given; pass e.g. rot:45 scale:2 trans:4")
    return out


def stack_matrices(transforms: list[InputTransform], image_size: int) -> Tensor:
    """``T x 3 x 3``: the warp matrices of ``transforms`` for square images of side ``image_size``."""
    return torch.cat([t.matrix(image_size) for t in transforms], dim=0)
