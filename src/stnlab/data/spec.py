"""The registry of data sets: every built-in data set is one :class:`DatasetInfo`, registered by its own module.

A data set's module (:mod:`stnlab.data.mnist`, :mod:`~stnlab.data.plankton`, :mod:`~stnlab.data.svhn`, or a
user's own file) states its facts once -- its :class:`~stnlab.data.dataspec.DataSpec` (shape, classes, heads,
run-config defaults, backbone, loc-net), its splits and checksums, the protocols it accepts and its named
variants -- and the functions that reach its files (source, status, fetch, import, prepare); then it calls
:func:`register_dataset`. Everything else reads the registry: :func:`stnlab.data.make_source`,
:func:`stnlab.data.dataset_spec`, the run config's defaults and checks, the model registry, ``stnlab data``
and the evaluation's pass count. Adding a data set is one file (docs/architecture.md).

Names: a registered data set answers to its name and to its variants' names (``mnist-rot`` is ``mnist``
under the rotation protocol: the same source, the same random draws); the user's own data are
``folder:PATH``, ``idx:PATH`` or ``npz:FILE`` (:mod:`stnlab.data.custom`). A data set that accepts protocols
(``protocols=True``: MNIST and the user's data) may be seen through any (``--set protocol=...``) and resized
(``--set image_size=N``); a transformed protocol is evaluated over 10 test passes, else 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from stnlab.data.dataspec import (
    MIN_IMAGE_SIZE,
    PROTOCOL_PASSES,
    DataSpec,
    canvas_size,
    check_protocol,
    protocols,
    with_protocol,
)
from stnlab.data.source import BatchSource
from stnlab.errors import StnlabError

CUSTOM_KINDS = ("folder", "idx", "npz")
Root = str | Path | None


@dataclass(frozen=True)
class SourceOptions:
    """Where and how a split is read (the keywords of :func:`stnlab.data.make_source`): ``root`` overrides
    ``STNLAB_DATA``, ``cache_dir`` ``STNLAB_CACHE``; ``seed`` sets the shuffling and the random transforms;
    ``download`` allows fetching a missing data set; ``protocol``, ``image_size`` and ``strict`` select the
    variant of a data set that accepts them."""

    root: Root = None
    cache_dir: Root = None
    seed: int = 0
    download: bool = False
    protocol: str = "none"
    image_size: int | None = None
    strict: bool = False



@dataclass(frozen=True)
class DatasetInfo:
    """A registered data set: its facts and the functions that reach its files.

    ``spec`` is its :class:`DataSpec` (for a data set that accepts protocols: of its content images, under
    ``none``); ``source(name, split, options)`` builds the :class:`~stnlab.data.source.BatchSource` of a split
    (for a data set that accepts protocols, ``name`` is the variant of ``options.protocol``, and that protocol
    is the variant's when none is given: ``mnist`` + rotation arrives as ``mnist-rot`` + rotation); ``variants`` maps
    other names to the protocol they apply (``{"mnist-rot": "rotation"}``); ``splits`` says how the
    train/val/test splits are made, ``checksums`` the md5 of its files (where fixed). The data-root functions
    (``None`` for a data set that does not live in the data root): ``status(root) -> (ok, line)``,
    ``fetch(root, progress) -> line``, ``import_files(path, root) -> copied paths``,
    ``prepare(root, cache_dir) -> line``.
    """

    spec: DataSpec
    source: Callable[[str, str, SourceOptions], BatchSource]
    variants: Mapping[str, str] = field(default_factory=dict)
    protocols: bool = False
    splits: str = ""
    checksums: Mapping[str, str] = field(default_factory=dict)
    status: Callable[[Root], tuple[bool, str]] | None = None
    fetch: Callable[[Root, bool], str] | None = None
    import_files: Callable[[Path, Root], list[Path]] | None = None
    prepare: Callable[[Root, Root], str] | None = None

    @property
    def name(self) -> str:
        """Its name (the folder in the data root, for a data set that lives there)."""
        return self.spec.name


_DATASETS: dict[str, DatasetInfo] = {}
_NAMES: dict[str, tuple[str, str]] = {}  # every registered name -> (data set, protocol of that name)


def register_dataset(info: DatasetInfo) -> DatasetInfo:
    """Add ``info`` (its name and variant names must be new, not ``folder:``-style) and return it."""
    names = {info.name: "none", **info.variants}
    taken = [n for n in names if n in _NAMES or ":" in n]
    if taken:
        raise StnlabError(f"data set name(s) {', '.join(taken)} already registered (or contain ':')")
    if info.variants and not info.protocols:
        raise StnlabError(f"{info.name}: variants need a data set that accepts protocols (protocols=True)")
    for protocol in names.values():
        check_protocol(protocol)
    _DATASETS[info.name] = info
    _NAMES.update({n: (info.name, p) for n, p in names.items()})
    return info


def unregister_dataset(name: str) -> None:
    """Remove the data set ``name`` (and its variants) from the registry."""
    info = _DATASETS.pop(name)
    for n in (info.name, *info.variants):
        _NAMES.pop(n, None)


def registered() -> Mapping[str, DatasetInfo]:
    """Every registered data set by name (variants not listed apart)."""
    return dict(_DATASETS)


def dataset_names() -> tuple[str, ...]:
    """Every registered name a model or a run accepts, variants included (``mnist``, ``mnist-rot``, ...)."""
    return tuple(_NAMES)


def dataset_info(name: str) -> DatasetInfo:
    """The registered data set that ``name`` (a name or a variant's) belongs to."""
    if name not in _NAMES:
        raise StnlabError(f"unknown dataset {name!r}; valid: {', '.join(_NAMES)}")
    return _DATASETS[_NAMES[name][0]]


class _Specs(Mapping[str, DataSpec]):
    """Read-only, live view ``name -> DataSpec`` of every registered name (variants included)."""

    def __getitem__(self, name: str) -> DataSpec:
        if name not in _NAMES:
            raise KeyError(name)
        info = _DATASETS[_NAMES[name][0]]
        return with_protocol(info.spec, _NAMES[name][1], name) if info.protocols else info.spec

    def __iter__(self) -> Iterator[str]:
        return iter(list(_NAMES))

    def __len__(self) -> int:
        return len(_NAMES)


BUILTIN: Mapping[str, DataSpec] = _Specs()  # the registered data sets' specs, by name (live)


def dataset_defaults(dataset: str) -> dict[str, Any]:
    """The run-config defaults of ``dataset`` (a registered name); ``{}`` for a user's ``folder:``-style one."""
    return dict(BUILTIN[dataset].defaults) if dataset in _NAMES else {}


def parse_dataset(dataset: str) -> tuple[str, Path | None]:
    """``("builtin", None)`` for a registered name, ``(kind, path)`` for ``folder:``/``idx:``/``npz:`` names."""
    if dataset in _NAMES:
        return "builtin", None
    kind, sep, path = str(dataset).partition(":")
    if sep and kind in CUSTOM_KINDS:
        if not path:
            raise StnlabError(f"data set {dataset!r} names no path; e.g. --dataset {kind}:PATH")
        return kind, Path(path).expanduser()
    raise StnlabError(f"unknown dataset {dataset!r}; valid: {', '.join(_NAMES)}, or your own data as "
                      f"folder:PATH, idx:PATH or npz:FILE")


def variant_name(dataset: str, protocol: str) -> str:
    """The registered name of ``dataset`` under ``protocol``: its variant for that protocol (``mnist`` +
    rotation = ``mnist-rot``), else its own name; refuses a variant seen through another protocol."""
    base, own = _NAMES[dataset]
    if protocol in ("none", own):
        return dataset
    if own != "none":
        raise StnlabError(f"{dataset} already applies the {own} protocol; use --dataset {base} "
                          f"--set protocol={protocol}")
    return next((n for n, p in _DATASETS[base].variants.items() if p == protocol), base)


def check_dataset(dataset: str, protocol: str = "none", image_size: int | None = None) -> None:
    """Cheap checks (no decoding) of a data set name and its options; StnlabError naming the fix."""
    kind, path = parse_dataset(dataset)
    check_protocol(protocol)
    if image_size is not None and image_size < MIN_IMAGE_SIZE:
        raise StnlabError(f"image_size must be >= {MIN_IMAGE_SIZE} (or none to keep the images' size), "
                          f"got {image_size}")
    if kind == "builtin":
        if dataset_info(dataset).protocols:
            variant_name(dataset, protocol)
        elif protocol != "none" or image_size is not None:
            accepting = ", ".join(n for n, i in _DATASETS.items() if i.protocols)
            raise StnlabError(f"protocol and image_size apply to {accepting} and to folder:/idx:/npz: data sets, "
                              f"not to {dataset}; drop --set protocol/image_size")
        return
    if not path.exists():
        raise StnlabError(f"{kind}: data set {path} does not exist; check the path")
    if kind == "npz" and not path.is_file():
        raise StnlabError(f"npz: data set {path} is not a file; pass a .npz file (npz:FILE)")
    if kind in ("folder", "idx") and not path.is_dir():
        raise StnlabError(f"{kind}: data set {path} is not a folder; pass the folder ({kind}:PATH)")


def builtin_spec(dataset: str, protocol: str = "none", image_size: int | None = None) -> DataSpec:
    """The spec of a registered data set (under ``protocol``, resized to ``image_size`` where it accepts them)."""
    check_dataset(dataset, protocol, image_size)
    info = dataset_info(dataset)
    if not info.protocols:
        return info.spec
    name = variant_name(dataset, protocol)
    own = _NAMES[name][1]
    side = info.spec.input_shape[1]
    if image_size in (None, side) and protocol in ("none", own):
        return BUILTIN[name]
    c = info.spec.in_channels
    base = replace(info.spec, input_shape=(c, image_size or side, image_size or side))
    return with_protocol(base, own if protocol == "none" else protocol, name)


def test_passes(dataset: str, protocol: str = "none") -> int:
    """Transformed test passes the evaluation averages: 10 under a transforming protocol, else 1."""
    if parse_dataset(dataset)[0] == "builtin":
        return builtin_spec(dataset, protocol).test_passes
    check_protocol(protocol)
    return PROTOCOL_PASSES if protocol != "none" else 1


__all__ = ["BUILTIN", "CUSTOM_KINDS", "DataSpec", "DatasetInfo", "SourceOptions", "builtin_spec", "canvas_size",
           "check_dataset", "check_protocol", "dataset_defaults", "dataset_info", "dataset_names", "parse_dataset",
           "protocols", "register_dataset", "registered", "test_passes", "unregister_dataset", "variant_name",
           "with_protocol"]
