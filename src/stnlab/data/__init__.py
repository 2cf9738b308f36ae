"""Data sets of the papers as deterministic, shardable batch sources.

``make_source(dataset, split)`` returns a :class:`BatchSource` for ``mnist``, ``mnist-rot``,
``mnist-trans``, ``mnist-scale``, ``plankton``, ``svhn``, or the user's own data (``folder:PATH``,
``idx:PATH``, ``npz:FILE``; :mod:`stnlab.data.custom`), optionally seen through a protocol
(``protocol="rotation"`` ...) and resized (``image_size=N``); ``dataset_spec(...)`` gives the facts of
that data set (:class:`DataSpec`: input shape, classes, heads, test passes, config defaults). Its
``batches(...)`` yields whole
:class:`Batch` es generated in one vectorised step, and :func:`as_torch_dataset` gives a
``torch.utils.data.Dataset`` view of the same samples. Raw data is read from the data root
(``STNLAB_DATA``), decoded arrays are cached in the cache folder (``STNLAB_CACHE``); see
:mod:`stnlab.data.paths` and ``docs/data.md``.
"""

from __future__ import annotations

from pathlib import Path

from stnlab.data.custom import CustomSource, custom_spec
from stnlab.data.manage import fetch, import_data, status
from stnlab.data.mnist import fetch_mnist, load_mnist
from stnlab.data.paths import cache_root, data_root
from stnlab.data.plankton import PlanktonSource, load_plankton
from stnlab.data.protocols import CANVAS, MNISTSource
from stnlab.data.source import Batch, BatchSource, as_torch_dataset
from stnlab.data.spec import BUILTIN, DataSpec, builtin_spec, check_dataset, parse_dataset, protocols
from stnlab.data.svhn import SVHNSource, sequence_correct, sequence_error

DATASETS = tuple(BUILTIN)


def dataset_spec(
    dataset: str,
    *,
    protocol: str = "none",
    image_size: int | None = None,
    strict: bool = False,
    cache_dir: str | Path | None = None,
) -> DataSpec:
    """The :class:`DataSpec` of ``dataset`` under ``protocol`` and ``image_size`` (a user's data set is
    decoded, or read from the cache, to learn its shape and classes)."""
    if parse_dataset(dataset)[0] == "builtin":
        return builtin_spec(dataset, protocol, image_size)
    return custom_spec(dataset, protocol=protocol, image_size=image_size, strict=strict, cache_dir=cache_dir)


def make_source(
    dataset: str,
    split: str = "train",
    *,
    root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    seed: int = 0,
    download: bool = False,
    protocol: str = "none",
    image_size: int | None = None,
    strict: bool = False,
) -> BatchSource:
    """The :class:`BatchSource` of ``dataset`` / ``split`` ("train", "val" or "test").

    ``root`` overrides ``STNLAB_DATA``, ``cache_dir`` overrides ``STNLAB_CACHE``; ``seed`` sets the
    shuffling and the random transforms. Nothing is downloaded unless ``download=True`` (or
    ``stnlab data fetch``): a missing data set is a one-line error saying where to put it. MNIST and
    SVHN can be fetched, PlanktonSet cannot (it needs a Kaggle login).
    ``protocol`` and ``image_size`` apply to MNIST and to ``folder:``/``idx:``/``npz:`` data sets;
    ``strict`` refuses unreadable image files.
    """
    check_dataset(dataset, protocol, image_size)
    if parse_dataset(dataset)[0] != "builtin":
        return CustomSource(dataset, split, seed=seed, protocol=protocol, image_size=image_size, strict=strict,
                            cache_dir=cache_dir)
    if dataset in CANVAS:
        return MNISTSource(dataset, split, root=root, seed=seed, download=download, protocol=protocol,
                           image_size=image_size)
    if dataset == "plankton":
        return PlanktonSource(split, root=root, cache_dir=cache_dir, seed=seed, strict=strict)
    return SVHNSource(split, root=root, cache_dir=cache_dir, seed=seed, download=download)


__all__ = [
    "DATASETS",
    "Batch",
    "BatchSource",
    "CustomSource",
    "DataSpec",
    "MNISTSource",
    "PlanktonSource",
    "SVHNSource",
    "as_torch_dataset",
    "cache_root",
    "data_root",
    "dataset_spec",
    "fetch",
    "fetch_mnist",
    "import_data",
    "load_mnist",
    "load_plankton",
    "make_source",
    "protocols",
    "sequence_correct",
    "sequence_error",
    "status",
]
