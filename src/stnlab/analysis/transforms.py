"""Input transforms ``T_h`` named by kind and magnitude, as the analysis applies them to images.

A transform is given in the units a user thinks in -- degrees, a content scale factor, pixels, ... -- and
turned into the 3x3 warp matrix of :mod:`stnlab.geometry` (output -> input coordinates) by its transform kind
(:mod:`stnlab.data.kinds`, which states each kind's value, matrix and read-out):

============  =====================  ================================================================
kind          value                  the transformed image ``T_h f``
============  =====================  ================================================================
rotation      degrees                content turned counter-clockwise on screen by ``value`` degrees
scale         factor ``s > 0``       content enlarged ``s`` times about the centre (``s < 1`` shrinks)
translation   ``dx`` or ``dx,dy``    content moved right by ``dx`` and down by ``dy`` input pixels
perspective   ``px`` or ``px,py``    the image plane tilted: the right (bottom) side nearer for px (py) > 0
============  =====================  ================================================================

Strings such as ``"rotation:45"``, ``"rot:90"``, ``"scale:2"``, ``"translation:4,-4"``, ``"trans:8"`` or
``"persp:0.1"`` are parsed by :func:`parse_transform` (a kind's name or one of its aliases).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor

from stnlab.data.kinds import TransformKind, get_kind, kinds
from stnlab.errors import StnlabError


@dataclass(frozen=True)
class InputTransform:
    """One input transform: a registered ``kind`` name and its magnitude (see the module docstring)."""

    kind: str
    value: tuple[float, ...]

    @property
    def spec(self) -> TransformKind:
        """The registered transform kind."""
        return get_kind(self.kind)

    @property
    def label(self) -> str:
        """Short label for tables and plots, e.g. ``rot45``, ``scale2``, ``trans4,0``."""
        return self.spec.label + ",".join(f"{x:g}" for x in self.value)

    def matrix(self, image_size: int) -> Tensor:
        """The ``1 x 3 x 3`` sampling (output -> input) matrix ``A_h`` with ``T_h f = warp(f, A_h)``."""
        return self.spec.matrix(self.value, image_size)

    def content_value(self, out_to_in: Tensor, image_size: int) -> Tensor:
        """``(B,)``: the kind's read-out of sampling matrices ``out_to_in`` (degrees, log-scale, pixels along x,
        ...: the kind's ``readout_unit``), the inverse of :meth:`matrix` for its first number."""
        return self.spec.read_out(out_to_in, image_size)

    def is_linear(self) -> bool:
        """True for rotations and scalings (linear maps about the centre), the theorem's setting."""
        return self.spec.linear


def make_transform(kind: str, value: float | Iterable[float]) -> InputTransform:
    """The :class:`InputTransform` of ``kind`` (a name) at ``value`` (a number or the kind's numbers)."""
    spec = get_kind(kind)
    return InputTransform(spec.name, spec.values(value if isinstance(value, (int, float)) else tuple(value)))


def parse_transform(text: str) -> InputTransform:
    """Parse ``KIND:VALUE`` (e.g. ``rot:45``, ``scale:0.5``, ``trans:4,-4``) into an :class:`InputTransform`."""
    name, sep, raw = text.strip().partition(":")
    valid = ", ".join("/".join((k.name, *k.aliases)) for k in kinds().values())
    try:
        spec = get_kind(name, aliases=True) if sep else None
    except StnlabError:
        spec = None
    if spec is None:
        raise StnlabError(f"bad transform {text!r}; write KIND:VALUE with KIND one of {valid}, e.g. rot:45, "
                          "scale:2, trans:4,-4")
    try:
        values = tuple(float(v) for v in raw.split(","))
    except ValueError:
        raise StnlabError(f"bad transform value in {text!r}; use numbers, e.g. rot:45 or trans:4,-4") from None
    if len(values) > spec.arity or not all(math.isfinite(v) for v in values):
        raise StnlabError(f"transform {text!r}: {spec.name} takes {spec.arity} finite number(s)")
    if spec.positive and values[0] <= 0:
        raise StnlabError(f"transform {text!r}: a {spec.value_unit} must be > 0 (e.g. {spec.label}:2 or "
                          f"{spec.label}:0.5)")
    return InputTransform(spec.name, spec.values(values))


def parse_transforms(texts: Iterable[str | InputTransform]) -> list[InputTransform]:
    """Parse several transforms (strings or ready :class:`InputTransform` objects); at least one."""
    out = [t if isinstance(t, InputTransform) else parse_transform(t) for t in texts]
    if not out:
        raise StnlabError("no input transforms given; pass e.g. rot:45 scale:2 trans:4")
    return out


def stack_matrices(transforms: list[InputTransform], image_size: int) -> Tensor:
    """``T x 3 x 3``: the warp matrices of ``transforms`` for square images of side ``image_size``."""
    return torch.cat([t.matrix(image_size) for t in transforms], dim=0)
