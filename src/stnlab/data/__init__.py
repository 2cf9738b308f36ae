"""Data sets of the papers as deterministic, shardable batch sources.

``make_source(dataset, split)`` returns a :class:`BatchSource` for ``mnist``, ``mnist-rot``,
``mnist-trans``, ``mnist-scale``, ``plankton`` or ``svhn``; its ``batches(...)`` yields whole
:class:`Batch` es generated in one vectorised step, and :func:`as_torch_dataset` gives a
``torch.utils.data.Dataset`` view of the same samples. Raw data is read from the data root
(``STNLAB_DATA``), decoded arrays are cached in the cache folder (``STNLAB_CACHE``); see
:mod:`stnlab.data.paths` and ``docs/data.md``.
"""

from __future__ import annotations

from pathlib import Path

from stnlab.data.manage import fetch, import_data, status
from stnlab.data.mnist import fetch_mnist, load_mnist
from stnlab.data.paths import cache_root, data_root
from stnlab.data.plankton import PlanktonSource, load_plankton
from stnlab.data.protocols import CANVAS, MNISTSource
from stnlab.data.source import Batch, BatchSource, as_torch_dataset
from stnlab.data.svhn import SVHNSource, sequence_correct, sequence_error
from stnlab.errors import StnlabError

DATASETS = (*CANVAS, "plankton", "svhn")


def make_source(
    dataset: str,
    split: str = "train",
    *,
    root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    seed: int = 0,
    download: bool = False,
) -> BatchSource:
    """The :class:`BatchSource` of ``dataset`` / ``split`` ("train", "val" or "test").

    ``root`` overrides ``STNLAB_DATA``, ``cache_dir`` overrides ``STNLAB_CACHE``; ``seed`` sets the
    shuffling and the random transforms. Nothing is downloaded unless ``download=True`` (or
    ``stnlab data fetch``): a missing data set is a one-line error saying where to put it. MNIST and
    SVHN can be fetched, PlanktonSet cannot (it needs a Kaggle login).
    """
    if dataset in CANVAS:
        return MNISTSource(dataset, split, root=root, seed=seed, download=download)
    if dataset == "plankton":
        return PlanktonSource(split, root=root, cache_dir=cache_dir, seed=seed)
    if dataset == "svhn":
        return SVHNSource(split, root=root, cache_dir=cache_dir, seed=seed, download=download)
    raise StnlabError(f"unknown dataset {dataset!r}; use one of {', '.join(DATASETS)}")


__all__ = [
    "DATASETS",
    "Batch",
    "BatchSource",
    "MNISTSource",
    "PlanktonSource",
    "SVHNSource",
    "as_torch_dataset",
    "cache_root",
    "data_root",
    "fetch",
    "fetch_mnist",
    "import_data",
    "load_mnist",
    "load_plankton",
    "make_source",
    "sequence_correct",
    "sequence_error",
    "status",
]
