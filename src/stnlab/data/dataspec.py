"""The :class:`DataSpec` record (what a model and a run need to know about a data set) and the protocol
arithmetic: which protocols exist (``none`` and every transform kind of :mod:`stnlab.data.kinds`), the canvas
of each, and a spec seen through one. The registry of data sets, which hands out specs by name, is
:mod:`stnlab.data.spec`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from stnlab.data.kinds import get_kind, kind_names
from stnlab.errors import StnlabError

PROTOCOL_PASSES = 10  # transformed test passes averaged by the papers
MIN_IMAGE_SIZE = 4


@dataclass(frozen=True)
class DataSpec:
    """The facts of one data set (after its protocol and resizing).

    ``input_shape`` is ``(C, H, W)`` of the images the model sees; ``content_size`` is the side of the
    images before the protocol's canvas (``None`` for data sets without protocols); ``backbone`` names
    the registered backbone that builds the data set's CNN (:mod:`stnlab.models`), ``loc_net`` its default
    loc-net body; ``defaults`` are run-config values that override :class:`~stnlab.train.RunConfig`'s;
    ``augmented``: its training split draws a random augmentation of its own (plankton), which
    ``transform_warmup`` can ramp in like a protocol.
    """

    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    class_names: tuple[str, ...]
    num_heads: int = 1
    test_passes: int = 1
    protocol: str = "none"
    content_size: int | None = None
    backbone: str = "mnist"
    loc_net: str = "mnist"
    augmented: bool = False
    defaults: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def in_channels(self) -> int:
        """Channels of an input image (1 grey, 3 colour)."""
        return self.input_shape[0]

    @property
    def image_size(self) -> int:
        """The side of a (square) input image; for a non-square one, its height."""
        return self.input_shape[1]

    @property
    def canvas(self) -> int:
        """The side of the protocol's canvas (= ``image_size``)."""
        return self.input_shape[1]


def protocols() -> tuple[str, ...]:
    """The valid protocols: ``none`` and every registered transform kind."""
    return ("none", *kind_names())


def canvas_size(protocol: str, content: int) -> int:
    """The canvas side of ``protocol`` for content images of side ``content`` (MNIST: 28, 28, 60, 112)."""
    check_protocol(protocol)
    return content if protocol == "none" else get_kind(protocol).canvas(content)


def check_protocol(protocol: str) -> None:
    """StnlabError unless ``protocol`` is one of :func:`protocols`."""
    if protocol not in protocols():
        raise StnlabError(f"unknown protocol {protocol!r}; valid: {', '.join(protocols())} (--set protocol=...)")


def with_protocol(base: DataSpec, protocol: str, name: str | None = None) -> DataSpec:
    """``base`` (its ``input_shape`` = the content images) seen through ``protocol``."""
    c, h, w = base.input_shape
    if protocol != "none" and h != w:
        raise StnlabError(f"{base.name}: protocol {protocol!r} needs square images, these are {h} x {w}; "
                          f"resize them with --set image_size=N")
    side = canvas_size(protocol, h)
    shape = (c, side, side) if protocol != "none" else base.input_shape
    passes = PROTOCOL_PASSES if protocol != "none" else 1
    return replace(base, name=name or base.name, input_shape=shape, protocol=protocol, content_size=h,
                   test_passes=passes)


__all__ = ["MIN_IMAGE_SIZE", "PROTOCOL_PASSES", "DataSpec", "canvas_size", "check_protocol", "protocols",
           "with_protocol"]
