"""The transform-kind record and its registry: one :class:`TransformKind` per kind of input transform.

A kind (rotation, scale, translation, perspective, ...) is written once, in its own module of
:mod:`stnlab.data.kinds`, as pure functions plus one :func:`register_kind` call; everything that applies,
names or measures input transforms reads it from here:

* a **data protocol** (``--set protocol=KIND``: the canvas a content image is put on, the per-sample random
  draws, whether the papers' clutter is added) -- :mod:`stnlab.data.protocols`;
* an **analysis transform** (``KIND:VALUE`` strings, the warp matrix of a value) and its **compensation
  read-out** (the kind's parameter of any sampling matrix; a loc-net that undoes the transform reads minus
  the applied value) -- :mod:`stnlab.analysis.transforms`, :mod:`stnlab.analysis.compensation`;
* the **units and words** of figures, reports and tables.

Conventions: matrices are ``B x 3 x 3`` sampling matrices (output -> input, :mod:`stnlab.geometry`);
a draw is a pure function of ``(key, sample index)`` (:mod:`stnlab.data.rng`), so a sample's transform is the
same in any batch, on any rank, after any resume; ``amplitude`` in [0, 1] shrinks every draw toward the
identity with the same random numbers (0: no transform, the warm-up of ``transform_warmup``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import torch
from torch import Tensor

from stnlab.errors import StnlabError
from stnlab.geometry import out_to_in_from_content, pixels_to_normalized

Draw = Callable[[int, Tensor, int, int, float], "dict[str, Tensor]"]  # (key, index, content, canvas, amplitude)


@dataclass(frozen=True)
class TransformKind:
    """One kind of input transform: its data protocol, its analysis matrix and its compensation read-out.

    ``value_unit`` says what an analysis value is (e.g. ``degrees``); a value has ``arity`` numbers (missing
    trailing ones are 0). ``readout_unit`` names what :attr:`read_out` returns; a report shows it in
    ``unit``, multiplied by ``per_unit``, with ``digits`` decimals. ``words`` are (noun, what was done to
    the images, the measured quantity), e.g. ``("rotation", "rotated", "angle")``. ``circular``: the read-out
    wraps at 360 degrees; ``linear``: a linear map about the centre (the theorems' setting); ``separable``:
    the protocol's warps are axis-aligned; ``clutter``: the papers' clutter on the protocol's canvas
    (``None``, ``"crops"`` or ``"resized"``).
    """

    name: str
    aliases: tuple[str, ...]
    label: str  # short prefix of a value's label: rot45, scale2, trans4,0
    value_unit: str
    readout_unit: str
    unit: str
    per_unit: float
    digits: int
    words: tuple[str, str, str]
    default_values: tuple[float, ...]
    canvas: Callable[[int], int]
    draw: Draw
    matrix: Callable[[tuple[float, ...], int], Tensor]
    read_out: Callable[[Tensor, int], Tensor]
    format_value: Callable[[float], str]
    arity: int = 1
    positive: bool = False
    circular: bool = False
    linear: bool = True
    separable: bool = False
    clutter: str | None = None

    def values(self, value: float | tuple[float, ...]) -> tuple[float, ...]:
        """``value`` as this kind's tuple of ``arity`` numbers (missing trailing ones are 0)."""
        v = (float(value),) if isinstance(value, (int, float)) else tuple(float(x) for x in value)
        return v + (0.0,) * (self.arity - len(v))

    def applied(self, value: float | tuple[float, ...], size: int) -> float:
        """The read-out of the transform ``value`` itself (what a compensating loc-net reads minus)."""
        return float(self.read_out(self.matrix(self.values(value), size), size)[0])


_KINDS: dict[str, TransformKind] = {}


def register_kind(kind: TransformKind) -> TransformKind:
    """Add ``kind`` to the registry (its name and aliases must be new) and return it."""
    taken = [n for n in (kind.name, *kind.aliases) if n in _KINDS or n in _ALIASES or n == "none"]
    if taken:
        raise StnlabError(f"transform kind name(s) {', '.join(taken)} already registered")
    _KINDS[kind.name] = kind
    _ALIASES.update({a: kind.name for a in kind.aliases})
    return kind


_ALIASES: dict[str, str] = {}


def kinds() -> Mapping[str, TransformKind]:
    """Every registered kind, by name (read-only, live)."""
    return MappingProxyType(_KINDS)


def kind_names() -> tuple[str, ...]:
    """The registered kinds' names, in registration order."""
    return tuple(_KINDS)


def get_kind(name: str, *, aliases: bool = False) -> TransformKind:
    """The kind called ``name`` (also by an alias such as ``rot`` when ``aliases``); StnlabError listing the
    valid names otherwise."""
    key = _ALIASES.get(name.lower(), name.lower()) if aliases else name
    if key not in _KINDS:
        raise StnlabError(f"unknown transform kind {name!r}; valid: {', '.join(_KINDS)}")
    return _KINDS[key]


def content_params(canvas: int, b: int, *, angle: Tensor | None = None, scale: Tensor | None = None,
                   shift: Tensor | None = None) -> dict[str, Tensor]:
    """The per-sample params of a content transform of ``b`` images on a ``canvas`` side: ``angle``
    (radians), ``scale``, ``tx``, ``ty`` (normalised) and the sampling ``matrix``; missing ones are the
    identity's (``shift`` is ``B x 2`` pixels)."""
    angle = torch.zeros(b) if angle is None else angle
    scale = torch.ones(b) if scale is None else scale
    shift = torch.zeros(b, 2) if shift is None else shift
    out_to_in = out_to_in_from_content(canvas, angle=angle, scale=scale, shift=(shift[:, 0], shift[:, 1]))
    tx, ty = pixels_to_normalized(shift, canvas).unbind(1)
    return {"angle": angle, "scale": scale, "tx": tx, "ty": ty, "matrix": out_to_in}


__all__ = ["TransformKind", "content_params", "get_kind", "kind_names", "kinds", "register_kind"]
