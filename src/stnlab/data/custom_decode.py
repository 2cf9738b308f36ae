"""Decoding the user's own data sets (``folder:PATH``, ``idx:PATH``, ``npz:FILE``) into uint8 arrays: the
rules of :mod:`stnlab.data.custom` (which caches and serves them) applied to the files."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from stnlab.data.images import to_channels
from stnlab.data.mnist import parse_idx, read_bytes
from stnlab.data.npz import SPLIT_CODE, read_npz
from stnlab.data.plankton import BAD_IMAGE_ERRORS
from stnlab.data.protocols import resize_images
from stnlab.errors import StnlabError

IDX_PATTERNS = {
    ("train", "images"): ("*train-images*idx3*",),
    ("train", "labels"): ("*train-labels*idx1*",),
    ("test", "images"): ("*t10k-images*idx3*", "*test-images*idx3*"),
    ("test", "labels"): ("*t10k-labels*idx1*", "*test-labels*idx1*"),
}


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


__all__ = ["DECODERS", "IDX_PATTERNS", "decode_folder", "decode_idx", "decode_npz", "folder_items", "idx_files",
           "shown"]
