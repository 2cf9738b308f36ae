"""The user's own data: ``folder:PATH``, ``idx:PATH`` and ``npz:FILE`` data sets.

* ``folder:PATH``: ``PATH/<class>/<image>`` (any format PIL reads), or ``PATH/{train,val,test}/<class>/...``
  when the data comes split (``train`` is needed; ``val``/``test`` are optional). Class names are the
  folder names, sorted (folder and file names must be valid UTF-8). The data set is grey or colour as a
  whole (the majority of its images); 16-bit grey is scaled to 8 bit, alpha composited onto black, and
  what was converted is said in one note (:mod:`stnlab.data.images` states the rules). Images of
  another size than the most common one are resized to it (bilinear), with a note. Unreadable files are
  skipped and counted (``strict=True`` refuses them); an empty folder or a class without images is an error.
* ``idx:PATH``: a folder with the standard IDX files ``*train-images*idx3*``, ``*train-labels*idx1*`` and
  optionally ``*t10k-images*idx3*`` / ``*t10k-labels*idx1*`` (or ``test-``), gzipped or raw; any image size,
  grey. Class names are the label values.
* ``npz:FILE``: arrays ``x_train``, ``y_train``, optionally ``x_val``/``y_val`` and ``x_test``/``y_test``, and
  ``classes`` (names, indexed by label). Images ``N x H x W`` or ``N x C x H x W`` (C = 1 or 3), uint8 in
  0..255 or float in [0, 1]; labels integers >= 0.

Labels are renumbered 0..K-1 in the order of the sorted class values. Missing splits are carved out of
train with the plankton rule (:func:`stnlab.data.plankton.split_indices`: per class, seeded, 10% val and
10% test, none for classes of fewer than 3 images). ``image_size=N`` resizes every image to ``N x N``.
Decoded arrays are cached in the cache folder as ``custom-v1-<sha1 of the files' bytes>.npy`` (keyed by
content, so a moved or touched copy reuses the cache and an edited file does not).
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from stnlab.data.cache import load_arrays, save_arrays
from stnlab.data.custom_decode import DECODERS, decode_folder, decode_idx, decode_npz, folder_items, idx_files
from stnlab.data.npz import SPLIT_CODE
from stnlab.data.paths import cache_root, file_fingerprint
from stnlab.data.plankton import split_indices
from stnlab.data.protocols import ProtocolSource, SplitImages
from stnlab.data.spec import DataSpec, SourceOptions, check_dataset, parse_dataset, with_protocol
from stnlab.errors import StnlabError

FORMAT = "v2"  # v2: the channel count of the whole data set, 16-bit and alpha rules
SPLIT_SALT = "stnlab-split"
_MEMO: dict[tuple, CustomArrays] = {}
_MEMO_SIZE = 4


class CustomArrays(NamedTuple):
    """A decoded data set: ``images`` uint8 ``N x C x H x W``, ``labels`` int64 ``(N,)``, ``splits`` int8
    ``(N,)`` (0 train, 1 val, 2 test, -1 not given), ``classes`` (names), ``skipped`` (unreadable files),
    ``notes`` (what was changed, e.g. resized images), ``digest`` (the content hash)."""

    images: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    classes: list[str]
    skipped: list[str]
    notes: list[str]
    digest: str


def _inputs(kind: str, path: Path) -> list[Path]:
    if kind == "folder":
        return [f for _, _, f in folder_items(path)]
    if kind == "idx":
        return sorted(idx_files(path).values())
    return [path]


def _content_hash(kind: str, image_size: int | None, root: Path, files: list[Path]) -> str:
    h = hashlib.sha1(f"{FORMAT}|{kind}|{image_size}".encode())
    for f in files:
        h.update(f"|{f.relative_to(root) if f != root else f.name}|{f.stat().st_size}|".encode())
        with open(f, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()[:20]


def load_custom(kind: str, path: Path, *, image_size: int | None = None, strict: bool = False,
                cache_dir: str | Path | None = None) -> CustomArrays:
    """The decoded data set at ``path``: from memory, from the cache (by content hash), or decoded now."""
    path = Path(path).resolve()
    files = _inputs(kind, path)
    stamp = (kind, str(path), image_size, tuple((str(f), file_fingerprint(f)) for f in files))
    if stamp not in _MEMO:
        root = path if kind != "npz" else path.parent
        digest = _content_hash(kind, image_size, root, files)
        base = cache_root(cache_dir) / f"custom-{FORMAT}-{digest}"
        if load_arrays(base) is None:
            images, labels, splits, classes, skipped, notes = DECODERS[kind](path, image_size, strict)
            if len(images) == 0:
                raise StnlabError(f"{kind}: {path} holds no images; add some")
            save_arrays(base, images, labels=labels, splits=splits, classes=np.array(classes, dtype=str),
                        skipped=np.array(skipped, dtype=str), notes=np.array(notes, dtype=str))
        images, meta = load_arrays(base)
        arrays = CustomArrays(np.array(images), meta["labels"], meta["splits"], meta["classes"].tolist(),
                              meta["skipped"].tolist(), meta["notes"].tolist(), digest)
        for note in arrays.notes:
            warnings.warn(note, stacklevel=2)
        if arrays.skipped:
            warnings.warn(f"{kind}: {path}: skipped {len(arrays.skipped)} unreadable file(s): "
                          f"{', '.join(arrays.skipped[:5])}", stacklevel=2)
        while len(_MEMO) >= _MEMO_SIZE:
            _MEMO.pop(next(iter(_MEMO)))
        _MEMO[stamp] = arrays
    arrays = _MEMO[stamp]
    if strict and arrays.skipped:
        raise StnlabError(f"{kind}: {path}: {arrays.skipped[0]} (and {len(arrays.skipped) - 1} more) are not "
                          f"readable images; remove them, or drop --set strict=true to skip them")
    return arrays


def custom_splits(arrays: CustomArrays) -> dict[str, Tensor]:
    """Indices (int64) of train/val/test: the given splits, the missing ones carved from train (in the
    mixed order of :func:`~stnlab.data.plankton.split_indices`)."""
    codes, labels = arrays.splits, arrays.labels
    given = [s for s, c in SPLIT_CODE.items() if (codes == c).any()]
    if not given:
        return split_indices(labels, arrays.classes, salt=SPLIT_SALT)
    train = torch.from_numpy(np.nonzero(codes == SPLIT_CODE["train"])[0])
    missing = tuple(s for s in ("test", "val") if s not in given)
    carved = split_indices(labels[train.numpy()], arrays.classes, salt=SPLIT_SALT, holdout=missing)
    out = {s: torch.from_numpy(np.nonzero(codes == SPLIT_CODE[s])[0]) for s in given}
    for s in ("train", *missing):
        out[s] = train[carved[s]]
    return out


def custom_spec(dataset: str, *, protocol: str = "none", image_size: int | None = None, strict: bool = False,
                cache_dir: str | Path | None = None) -> DataSpec:
    """The :class:`DataSpec` of a ``folder:``/``idx:``/``npz:`` data set (decodes it if not cached)."""
    check_dataset(dataset, protocol, image_size)
    kind, path = parse_dataset(dataset)
    arrays = load_custom(kind, path, image_size=image_size, strict=strict, cache_dir=cache_dir)
    c, h, w = arrays.images.shape[1:]
    base = DataSpec(dataset, (c, h, w), len(arrays.classes), tuple(arrays.classes), content_size=h,
                    backbone="mnist", loc_net="mnist")
    return with_protocol(base, protocol)


class CustomSource(ProtocolSource):
    """A split of a ``folder:``/``idx:``/``npz:`` data set seen through ``protocol``; ``classes`` are the names."""

    def __init__(self, dataset: str, split: str = "train", options: SourceOptions | None = None) -> None:
        o = options or SourceOptions()
        self.spec = custom_spec(dataset, protocol=o.protocol, image_size=o.image_size, strict=o.strict,
                                cache_dir=o.cache_dir)
        kind, path = parse_dataset(dataset)
        arrays = load_custom(kind, path, image_size=o.image_size, strict=o.strict, cache_dir=o.cache_dir)
        splits = custom_splits(arrays)
        if split in splits and len(splits[split]) == 0:
            raise StnlabError(f"{dataset}: the {split} split is empty; give each class at least 3 images "
                              f"(10% go to val and to test), or lay the split out yourself ({split}/ or x_{split})")
        images, labels = torch.from_numpy(arrays.images), torch.from_numpy(arrays.labels)
        index = splits.get(split, torch.zeros(0, dtype=torch.long))
        data = SplitImages(images[index], labels[index], images[splits["train"]], len(arrays.classes))
        super().__init__(dataset, split, o.seed, data, o.protocol, rng_name=f"custom-{arrays.digest}-{o.protocol}")
        self.classes = arrays.classes


__all__ = ["CustomArrays", "CustomSource", "custom_spec", "custom_splits", "decode_folder", "decode_idx",
           "decode_npz", "folder_items", "idx_files", "load_custom"]
