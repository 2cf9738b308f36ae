"""Data set descriptions: the one place that states the facts of a data set.

A :class:`DataSpec` says what a model and a training run need to know about a data set: the image shape
the model sees (after the protocol's canvas), the classes and their names, the number of output heads,
how many transformed test passes the evaluation averages, the run-config defaults, which registered
backbone builds its CNN and which loc-net body its STNs use. The model registry, the data sources, the
run config and the evaluation all read it from here.

Data set names: the built-in ``mnist``, ``mnist-rot``, ``mnist-trans``, ``mnist-scale``, ``plankton``,
``svhn``, and the user's own data as ``folder:PATH``, ``idx:PATH`` or ``npz:FILE`` (see
:mod:`stnlab.data.custom`).

Protocols (``protocol=none`` or a transform kind of :mod:`stnlab.data.kinds`: ``rotation``, ``scale``,
``translation`` -- the papers' R, S and T -- or ``perspective``) apply to MNIST and to the user's data alike,
with canvases scaled from the MNIST ones by the content side ``N`` (28 for MNIST); each kind's module states
its canvas and its random draws:

=============  =============================  ================================================
protocol       canvas side                    transform
=============  =============================  ================================================
none           ``N``                          none
rotation       ``N``                          rotation ``U[-90, 90]`` degrees
translation    ``N + 2 * round(16 N / 28)``   whole-pixel shift up to the padding; clutter
scale          ``N + 2 * round(1.5 N)``       scale ``2**U(-1, 2)``; resized clutter
perspective    ``N``                          tilt ``U[-0.2, 0.2]`` per axis
=============  =============================  ================================================

``mnist-rot`` is ``mnist`` with ``protocol=rotation`` (likewise ``mnist-trans``, ``mnist-scale``): the
same source, the same random draws. A transformed protocol is evaluated over 10 test passes, else 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from stnlab.data.kinds import get_kind, kind_names
from stnlab.errors import StnlabError

CUSTOM_KINDS = ("folder", "idx", "npz")
PROTOCOL_PASSES = 10  # transformed test passes averaged by the papers
MNIST_NAMES = {"none": "mnist", "rotation": "mnist-rot", "translation": "mnist-trans", "scale": "mnist-scale"}
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


_MNIST_BASE = DataSpec("mnist", (1, 28, 28), 10, tuple(str(i) for i in range(10)),
                       backbone="mnist", loc_net="mnist", content_size=28,
                       # the KTH papers: SGD, lr 0.01, batch 256, step decay; epochs: docs/training.md
                       defaults={"epochs": 50})

BUILTIN: dict[str, DataSpec] = {
    **{name: with_protocol(_MNIST_BASE, p, name) for p, name in MNIST_NAMES.items()},
    # the KTH plankton CNN; the loc-net is our choice (the papers do not give it)
    "plankton": DataSpec("plankton", (1, 95, 95), 121, (), backbone="plankton", loc_net="ndsb", augmented=True,
                         defaults={"epochs": 100, "weight_decay": 5e-4, "loc_lr_multiplier": 0.1}),
    # Jaderberg et al.: loc-nets at lr x 0.1, weight decay 5e-4; 5 heads of 10 digits + "no digit"
    "svhn": DataSpec("svhn", (3, 64, 64), 11, (*(str(i) for i in range(10)), "none"), num_heads=5,
                     backbone="svhn", loc_net="small",
                     defaults={"epochs": 40, "loc_lr_multiplier": 0.1, "weight_decay": 5e-4}),
}


def parse_dataset(dataset: str) -> tuple[str, Path | None]:
    """``("builtin", None)`` for a built-in name, ``(kind, path)`` for ``folder:``/``idx:``/``npz:`` names."""
    if dataset in BUILTIN:
        return "builtin", None
    kind, sep, path = str(dataset).partition(":")
    if sep and kind in CUSTOM_KINDS:
        if not path:
            raise StnlabError(f"data set {dataset!r} names no path; e.g. --dataset {kind}:PATH")
        return kind, Path(path).expanduser()
    raise StnlabError(f"unknown dataset {dataset!r}; valid: {', '.join(BUILTIN)}, or your own data as "
                      f"folder:PATH, idx:PATH or npz:FILE")


def mnist_name(dataset: str, protocol: str) -> str:
    """The built-in MNIST name for ``dataset`` (an MNIST name) under ``protocol``; refuses a conflict."""
    own = BUILTIN[dataset].protocol
    if protocol in ("none", own):
        return dataset
    if own != "none":
        raise StnlabError(f"{dataset} already applies the {own} protocol; use --dataset mnist "
                          f"--set protocol={protocol}")
    return MNIST_NAMES.get(protocol, dataset)  # a kind without a named MNIST variant keeps the name


def check_dataset(dataset: str, protocol: str = "none", image_size: int | None = None) -> None:
    """Cheap checks (no decoding) of a data set name and its options; StnlabError naming the fix."""
    kind, path = parse_dataset(dataset)
    check_protocol(protocol)
    if image_size is not None and image_size < MIN_IMAGE_SIZE:
        raise StnlabError(f"image_size must be >= {MIN_IMAGE_SIZE} (or none to keep the images' size), "
                          f"got {image_size}")
    if kind == "builtin":
        if dataset in MNIST_NAMES.values():
            mnist_name(dataset, protocol)
        elif protocol != "none" or image_size is not None:
            raise StnlabError(f"protocol and image_size apply to mnist and to folder:/idx:/npz: data sets, "
                              f"not to {dataset}; drop --set protocol/image_size")
        return
    if not path.exists():
        raise StnlabError(f"{kind}: data set {path} does not exist; check the path")
    if kind == "npz" and not path.is_file():
        raise StnlabError(f"npz: data set {path} is not a file; pass a .npz file (npz:FILE)")
    if kind in ("folder", "idx") and not path.is_dir():
        raise StnlabError(f"{kind}: data set {path} is not a folder; pass the folder ({kind}:PATH)")


def builtin_spec(dataset: str, protocol: str = "none", image_size: int | None = None) -> DataSpec:
    """The spec of a built-in data set (MNIST under ``protocol``, resized to ``image_size``)."""
    check_dataset(dataset, protocol, image_size)
    if dataset not in MNIST_NAMES.values():
        return BUILTIN[dataset]
    name = mnist_name(dataset, protocol)
    spec = BUILTIN[name]
    if image_size in (None, 28) and protocol in ("none", spec.protocol):
        return spec
    base = replace(_MNIST_BASE, input_shape=(1, image_size or 28, image_size or 28))
    return with_protocol(base, spec.protocol if protocol == "none" else protocol, name)


def test_passes(dataset: str, protocol: str = "none") -> int:
    """Transformed test passes the evaluation averages: 10 under a transforming protocol, else 1."""
    if parse_dataset(dataset)[0] == "builtin":
        return builtin_spec(dataset, protocol).test_passes
    check_protocol(protocol)
    return PROTOCOL_PASSES if protocol != "none" else 1


__all__ = ["BUILTIN", "CUSTOM_KINDS", "MNIST_NAMES", "DataSpec", "builtin_spec", "canvas_size", "check_dataset",
           "check_protocol", "mnist_name", "parse_dataset", "protocols", "test_passes", "with_protocol"]
