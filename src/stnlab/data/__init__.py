"""Data sets of the papers (and yours) as deterministic, shardable batch sources.

``make_source(dataset, split)`` returns a :class:`BatchSource` for a registered data set (``mnist``,
``mnist-rot``, ``mnist-trans``, ``mnist-scale``, ``plankton``, ``svhn``, or one a user registered with
:func:`register_dataset`; :mod:`stnlab.data.spec`), or the user's own data (``folder:PATH``, ``idx:PATH``,
``npz:FILE``; :mod:`stnlab.data.custom`), optionally seen through a protocol (``protocol="rotation"`` ...: a
transform kind of :mod:`stnlab.data.kinds`) and resized (``image_size=N``); ``dataset_spec(...)`` gives the
facts of that data set (:class:`DataSpec`: input shape, classes, heads, test passes, config defaults). Its
``batches(...)`` yields whole :class:`Batch` es generated in one vectorised step, and :func:`as_torch_dataset`
gives a ``torch.utils.data.Dataset`` view of the same samples. Raw data is read from the data root
(``STNLAB_DATA``), decoded arrays are cached in the cache folder (``STNLAB_CACHE``); see
:mod:`stnlab.data.paths` and ``docs/data.md``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch.nn.functional as F
from torch import Tensor

# each data set's module registers it (stnlab.data.spec); the order is the order they are listed in
from stnlab.data import mnist, plankton, svhn  # noqa: F401  # isort: skip
from stnlab.data.custom import CustomSource, custom_spec
from stnlab.data.dataspec import DataSpec, protocols
from stnlab.data.kinds import TransformKind, get_kind, kind_names, register_kind
from stnlab.data.manage import fetch, import_data, root_names, status
from stnlab.data.mnist import MNISTSource, fetch_mnist, load_mnist
from stnlab.data.paths import cache_root, data_root
from stnlab.data.plankton import PlanktonSource, load_plankton
from stnlab.data.source import Batch, BatchSource, as_torch_dataset
from stnlab.data.spec import (
    BUILTIN,
    DatasetInfo,
    SourceOptions,
    builtin_spec,
    check_dataset,
    dataset_defaults,
    dataset_info,
    dataset_names,
    parse_dataset,
    register_dataset,
    unregister_dataset,
    variant_name,
)
from stnlab.data.svhn import SVHNSource, sequence_correct, sequence_error
from stnlab.options import options_of


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


def make_source(dataset: str, split: str = "train", **options: Any) -> BatchSource:
    """The :class:`BatchSource` of ``dataset`` / ``split`` ("train", "val" or "test").

    ``options`` (:class:`SourceOptions`): ``root`` overrides ``STNLAB_DATA``, ``cache_dir`` overrides
    ``STNLAB_CACHE``; ``seed`` sets the shuffling and the random transforms. Nothing is downloaded unless
    ``download=True`` (or ``stnlab data fetch``): a missing data set is a one-line error saying where to put
    it. MNIST and SVHN can be fetched, PlanktonSet cannot (it needs a Kaggle login). ``protocol`` and
    ``image_size`` apply to MNIST and to ``folder:``/``idx:``/``npz:`` data sets; ``strict`` refuses
    unreadable image files.
    """
    o = options_of(SourceOptions, None, options, "make_source")
    check_dataset(dataset, o.protocol, o.image_size)
    if parse_dataset(dataset)[0] != "builtin":
        return CustomSource(dataset, split, o)
    info = dataset_info(dataset)
    if not info.protocols:
        return info.source(dataset, split, o)
    name = variant_name(dataset, o.protocol)  # mnist + rotation is mnist-rot: the same source and draws
    return info.source(name, split, replace(o, protocol=BUILTIN[name].protocol if o.protocol == "none" else o.protocol))


def pick_images(dataset: str, n: int, *, seed: int = 0, canvas: int | None = None, split: str = "test",
                **options: Any) -> tuple[Tensor, Tensor]:
    """The analyses' images: ``n`` images of ``dataset``'s ``split`` (all, if it has fewer) and their labels.

    They are untransformed (a protocol variant gives its data set's own images: ``mnist-rot`` gives MNIST
    digits), the first ``n`` of the split in the order ``seed`` shuffles it (epoch 0, so the same ``seed`` and
    ``n`` always give the same images), centred on a ``canvas`` side with zeros when one is given. ``options``
    as :func:`make_source`'s (``root``, ``cache_dir``, ``image_size``, ``strict``; the protocol is ignored).
    """
    base = dataset_info(dataset).name if parse_dataset(dataset)[0] == "builtin" else dataset
    source = make_source(base, split, **{**options, "seed": seed, "protocol": "none"})
    batch = next(iter(source.batches(min(n, source.num_samples), shuffle=True, epoch=0)))
    if canvas is None:
        return batch.images, batch.labels
    (h, w), top, left = batch.images.shape[-2:], (canvas - batch.images.shape[-2]) // 2, \
        (canvas - batch.images.shape[-1]) // 2
    return F.pad(batch.images, (left, canvas - w - left, top, canvas - h - top)), batch.labels


__all__ = [
    "BUILTIN",
    "Batch",
    "BatchSource",
    "CustomSource",
    "DataSpec",
    "DatasetInfo",
    "MNISTSource",
    "PlanktonSource",
    "SVHNSource",
    "SourceOptions",
    "TransformKind",
    "as_torch_dataset",
    "cache_root",
    "check_dataset",
    "data_root",
    "dataset_defaults",
    "dataset_names",
    "dataset_spec",
    "fetch",
    "fetch_mnist",
    "get_kind",
    "import_data",
    "kind_names",
    "load_mnist",
    "load_plankton",
    "make_source",
    "pick_images",
    "protocols",
    "register_dataset",
    "register_kind",
    "root_names",
    "sequence_correct",
    "sequence_error",
    "status",
    "unregister_dataset",
]
