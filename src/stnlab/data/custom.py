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
import os
import warnings
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from stnlab.data.cache import load_arrays, save_arrays
from stnlab.data.images import to_channels
from stnlab.data.mnist import parse_idx, read_bytes
from stnlab.data.npz import SPLIT_CODE, read_npz
from stnlab.data.paths import cache_root, file_fingerprint
from stnlab.data.plankton import BAD_IMAGE_ERRORS, split_indices
from stnlab.data.protocols import ProtocolSource, resize_images
from stnlab.data.spec import DataSpec, check_dataset, parse_dataset, with_protocol
from stnlab.errors import StnlabError

FORMAT = "v2"  # v2: the channel count of the whole data set, 16-bit and alpha rules
SPLIT_SALT = "stnlab-split"
IDX_PATTERNS = {
    ("train", "images"): ("*train-images*idx3*",),
    ("train", "labels"): ("*train-labels*idx1*",),
    ("test", "images"): ("*t10k-images*idx3*", "*test-images*idx3*"),
    ("test", "labels"): ("*t10k-labels*idx1*", "*test-labels*idx1*"),
}
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


def shown(path: Path | str) -> str:
    """``path`` as printable text (a name that is not valid UTF-8 shows its bytes as ``\\xff``)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _utf8(path: Path) -> Path:
    try:
        path.name.encode("utf-8")
    except UnicodeEncodeError:
        raise StnlabError(f"folder: the name of {shown(path)} is not valid UTF-8; rename it (class and "
                          f"file names must be UTF-8 text)") from None
    return path


def _subdirs(folder: Path) -> list[Path]:
    return sorted(_utf8(p) for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def folder_items(root: Path) -> list[tuple[str | None, str, Path]]:
    """``(split or None, class, file)`` of every file of a ``folder:`` data set, in a fixed order."""
    names = {p.name for p in _subdirs(root)}
    split_layout = "train" in names and names <= set(SPLIT_CODE)
    groups = [(p.name, p) for p in _subdirs(root)] if split_layout else [(None, root)]
    items = []
    for split, base in groups:
        classes = _subdirs(base)
        if not classes:
            raise StnlabError(f"folder: {base} holds no class folders; put each class's images in its own "
                              f"subfolder, {base}/<class>/<image>.png")
        for cdir in classes:
            files = sorted(_utf8(f) for f in cdir.iterdir() if f.is_file() and not f.name.startswith("."))
            if not files:
                raise StnlabError(f"folder: class folder {cdir} holds no images; add images or remove it")
            items += [(split, cdir.name, f) for f in files]
    return items


def idx_files(root: Path) -> dict[tuple[str, str], Path]:
    """The IDX files of an ``idx:`` folder by ``(split, kind)``; the test pair is optional."""
    found = {}
    for role, patterns in IDX_PATTERNS.items():
        matches = sorted({f for pat in patterns for f in root.glob(pat) if f.is_file()})
        if len(matches) > 1:
            raise StnlabError(f"idx: {root} holds several {role[0]} {role[1]} files "
                              f"({', '.join(m.name for m in matches)}); keep one")
        if matches:
            found[role] = matches[0]
    for split in ("train", "test"):
        have = [k for k in ("images", "labels") if (split, k) in found]
        if (split == "train" and len(have) < 2) or len(have) == 1:
            lack = "images" if "images" not in have else "labels"
            raise StnlabError(f"idx: {root} lacks the {split} {lack} file (e.g. "
                              f"{'train' if split == 'train' else 't10k'}-{lack}-idx{3 if lack == 'images' else 1}"
                              f"-ubyte[.gz]); put the IDX files of the data set there")
    return found


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


def _finish(parts: list[tuple[int, np.ndarray, np.ndarray]], classes: list[str] | None, where: str,
            image_size: int | None, notes: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Stack ``(split code, images N x C x H x W, raw labels)`` parts: one size, labels renumbered."""
    sizes: Counter = Counter()
    for _, x, _ in parts:
        sizes[tuple(x.shape[-2:])] += len(x)
    target = (image_size, image_size) if image_size else sizes.most_common(1)[0][0]
    if image_size is None and len(sizes) > 1:
        odd = sum(n for s, n in sizes.items() if s != target)
        notes.append(f"{where}: resized {odd} image(s) of another size to {target[0]} x {target[1]} "
                     f"(the most common size; choose one with --set image_size=N)")
    if len({x.shape[1] for _, x, _ in parts}) > 1:
        raise StnlabError(f"{where}: the splits have different numbers of channels "
                          f"({', '.join(str(x.shape[1]) for _, x, _ in parts)}); store all grey or all colour")
    images = np.concatenate([x if x.shape[-2:] == target else resize_images(torch.from_numpy(x.copy()), target).numpy()
                             for _, x, _ in parts])
    raw = np.concatenate([y for _, _, y in parts])
    values = np.unique(raw)
    if classes is None:
        classes = [str(v) for v in values]
        labels = np.searchsorted(values, raw)
    else:
        labels = raw
    splits = np.concatenate([np.full(len(x), code, dtype=np.int8) for code, x, _ in parts])
    return images, labels.astype(np.int64), splits, classes


def _open_images(root: Path, strict: bool) -> tuple[list[tuple[str | None, str, Image.Image]], list[str]]:
    decoded, skipped = [], []
    for split, cls, f in folder_items(root):
        try:
            with Image.open(f) as im:
                im.load()
                decoded.append((split, cls, im.copy()))
        except BAD_IMAGE_ERRORS as err:
            if strict:
                raise StnlabError(f"folder: {f} is not a readable image ({err}); remove it, or drop "
                                  f"--set strict=true to skip unreadable files") from None
            skipped.append(str(f.relative_to(root)))
    return decoded, skipped


def decode_folder(root: Path, image_size: int | None, strict: bool) -> tuple:
    """Decode a ``folder:`` data set; see the module docstring for the rules."""
    decoded, skipped = _open_images(root, strict)
    classes = sorted({cls for _, cls, _ in decoded} | {cls for _, cls, _ in folder_items(root)})
    empty = sorted(set(classes) - {cls for _, cls, _ in decoded})
    if empty:
        raise StnlabError(f"folder: class(es) {', '.join(empty)} in {root} hold no readable image; "
                          f"add images or remove the folder(s)")
    index = {c: i for i, c in enumerate(classes)}
    arrays, notes = to_channels([im for _, _, im in decoded], f"folder: {root}")
    parts = [(SPLIT_CODE[split] if split else -1, image[None], np.array([index[cls]]))
             for (split, cls, _), image in zip(decoded, arrays)]
    return (*_finish(parts, classes, f"folder: {root}", image_size, notes), skipped, notes)


def decode_idx(root: Path, image_size: int | None, strict: bool) -> tuple:
    """Decode an ``idx:`` data set (grey, any size)."""
    files = idx_files(root)
    parts = []
    for split in ("train", "test"):
        if (split, "images") not in files:
            continue
        x, y = (parse_idx(read_bytes(files[(split, k)]), k, files[(split, k)], what="IDX")
                for k in ("images", "labels"))
        if len(x) != len(y):
            raise StnlabError(f"idx: {root}: {len(x)} {split} images but {len(y)} labels "
                              f"({files[(split, 'images')].name}, {files[(split, 'labels')].name}); "
                              f"the files do not belong together")
        parts.append((SPLIT_CODE[split], np.ascontiguousarray(x)[:, None], y.astype(np.int64)))
    notes: list[str] = []
    return (*_finish(parts, None, f"idx: {root}", image_size, notes), [], notes)


def decode_npz(path: Path, image_size: int | None, strict: bool) -> tuple:
    """Decode an ``npz:`` data set (:func:`stnlab.data.npz.read_npz`)."""
    parts, classes = read_npz(path)
    top = max(int(y.max()) for _, _, y in parts if len(y)) if any(len(y) for _, _, y in parts) else -1
    if classes is not None and top >= len(classes):
        raise StnlabError(f"npz: {path}: label {top} has no name in classes ({len(classes)} names); "
                          f"give one name per class")
    notes: list[str] = []
    return (*_finish(parts, classes, f"npz: {path}", image_size, notes), [], notes)


DECODERS = {"folder": decode_folder, "idx": decode_idx, "npz": decode_npz}


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

    def __init__(self, dataset: str, split: str = "train", *, seed: int = 0, protocol: str = "none",
                 image_size: int | None = None, strict: bool = False, cache_dir: str | Path | None = None) -> None:
        self.spec = custom_spec(dataset, protocol=protocol, image_size=image_size, strict=strict,
                                cache_dir=cache_dir)
        kind, path = parse_dataset(dataset)
        arrays = load_custom(kind, path, image_size=image_size, strict=strict, cache_dir=cache_dir)
        splits = custom_splits(arrays)
        if split in splits and len(splits[split]) == 0:
            raise StnlabError(f"{dataset}: the {split} split is empty; give each class at least 3 images "
                              f"(10% go to val and to test), or lay the split out yourself ({split}/ or x_{split})")
        images, labels = torch.from_numpy(arrays.images), torch.from_numpy(arrays.labels)
        index = splits.get(split, torch.zeros(0, dtype=torch.long))
        super().__init__(dataset, split, seed, images[index], labels[index], images[splits["train"]], protocol,
                         len(arrays.classes), rng_name=f"custom-{arrays.digest}-{protocol}")
        self.classes = arrays.classes


__all__ = ["CustomArrays", "CustomSource", "custom_spec", "custom_splits", "decode_folder", "decode_idx",
           "decode_npz", "folder_items", "idx_files", "load_custom"]
