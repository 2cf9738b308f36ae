"""PlanktonSet (NDSB) files: decode the Kaggle training images once into a cached uint8 array.

Source: ``<data root>/plankton/ndsb_train.tar`` or ``<data root>/plankton/train/<class>/<id>.jpg``
(class = folder name). Each image is converted to grey, inverted (the organism becomes bright on black),
its longest side shrunk to 95 px (never enlarged, PIL bilinear with antialiasing) and centre-padded to
95 x 95. Files that are not readable images are skipped, counted and reported with a warning
(``strict=True`` refuses them); an empty class folder is an error.

The decoded array is cached in the cache folder as ``plankton-v1-<fingerprint>.npy`` (+ ``.meta.npz``);
the fingerprint hashes the tar's size and mtime (or the folder's file list with sizes and mtimes).
The data set itself (splits, augmentation, source, registration) is :mod:`stnlab.data.plankton`.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

from stnlab.data.cache import load_arrays, save_arrays
from stnlab.data.paths import cache_root, data_root, file_fingerprint
from stnlab.errors import StnlabError

SIZE = 95
FORMAT = "v1"
TAR_NAME = "ndsb_train.tar"
BAD_IMAGE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


class PlanktonArrays(NamedTuple):
    """The decoded data set: ``images`` uint8 ``N x 95 x 95`` (memory-mapped), ``labels`` int64 ``(N,)``,
    ``classes`` (sorted names), ``names`` (file names, ``class/id.jpg``), ``skipped`` (unreadable files)."""

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    names: list[str]
    skipped: list[str]


def preprocess(data: bytes) -> np.ndarray:
    """JPEG/PNG bytes -> ``95 x 95`` uint8: grey, inverted, longest side shrunk to 95, centre-padded."""
    with Image.open(io.BytesIO(data)) as im:
        im = im.convert("L")
        w, h = im.size
        if max(w, h) > SIZE:
            f = SIZE / max(w, h)
            im = im.resize((max(1, round(w * f)), max(1, round(h * f))), Image.BILINEAR)
        arr = 255 - np.asarray(im, dtype=np.uint8)
    out = np.zeros((SIZE, SIZE), dtype=np.uint8)
    y0, x0 = (SIZE - arr.shape[0]) // 2, (SIZE - arr.shape[1]) // 2
    out[y0 : y0 + arr.shape[0], x0 : x0 + arr.shape[1]] = arr
    return out


def plankton_location(root: str | Path | None = None) -> Path:
    """The tar or ``train/`` folder in the data root; a clear error when neither is there."""
    folder = data_root(root) / "plankton"
    for candidate in (folder / TAR_NAME, folder / "train"):
        if candidate.exists():
            return candidate
    raise StnlabError(
        f"PlanktonSet not found: put the Kaggle NDSB training images at {folder / TAR_NAME} "
        f"(or {folder}/train/<class>/<id>.jpg), e.g. `stnlab data import plankton PATH`; "
        f"it cannot be fetched automatically (Kaggle needs a login)"
    )


def _walk(location: Path) -> Iterator[tuple[str, str, bytes | None]]:
    """Yield ``(class, file name, bytes)`` for every file and ``(class, "", None)`` for every class folder."""
    if location.is_dir():
        for cls in sorted(p for p in location.iterdir() if p.is_dir()):
            yield cls.name, "", None
            for f in sorted(p for p in cls.iterdir() if p.is_file()):
                yield cls.name, f.name, f.read_bytes()
        return
    try:
        with tarfile.open(location) as tar:
            for m in tar:
                parts = [p for p in m.name.split("/") if p not in ("", ".")]
                if m.isdir() and parts and parts[0] == "train" and len(parts) == 2:
                    yield parts[1], "", None
                elif m.isfile() and len(parts) >= 2:
                    yield parts[-2], parts[-1], tar.extractfile(m).read()
    except (tarfile.TarError, OSError, EOFError) as err:
        raise StnlabError(f"{location} is not a readable tar ({err}); replace it with a good copy") from None


def _fingerprint(location: Path) -> str:
    if location.is_dir():
        entries = sorted(f"{p.relative_to(location)}:{file_fingerprint(p)}" for p in location.rglob("*"))
        text = "dir:" + "\n".join(entries)
    else:
        text = f"tar:{file_fingerprint(location)}"
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def decode(location: Path, strict: bool = False) -> PlanktonArrays:
    """Decode every image of ``location`` (tar or folder); see the module docstring for skip rules."""
    per_class: dict[str, list[tuple[str, np.ndarray]]] = {}
    skipped = []
    for cls, name, data in _walk(location):
        per_class.setdefault(cls, [])
        if data is None:
            continue
        try:
            per_class[cls].append((name, preprocess(data)))
        except BAD_IMAGE_ERRORS as err:
            if strict:
                raise StnlabError(f"{location}: {cls}/{name} is not a readable image ({err}); remove it") from None
            skipped.append(f"{cls}/{name}")
    if not per_class:
        raise StnlabError(f"{location} holds no class folders; lay the images out as train/<class>/<id>.jpg")
    empty = sorted(c for c, items in per_class.items() if not items)
    if empty:
        raise StnlabError(f"{location}: class folder(s) {', '.join(empty)} hold no readable image; "
                          f"remove them or add images")  # fmt: skip
    if skipped:
        warnings.warn(f"{location}: skipped {len(skipped)} unreadable file(s): {', '.join(skipped[:5])}", stacklevel=2)
    classes = sorted(per_class)
    items = [(i, c, n, a) for i, c in enumerate(classes) for n, a in sorted(per_class[c], key=lambda t: t[0])]
    images = np.stack([a for *_, a in items])  # N x 95 x 95
    labels = np.array([i for i, *_ in items], dtype=np.int64)
    return PlanktonArrays(images, labels, classes, [f"{c}/{n}" for _, c, n, _ in items], skipped)


def load_plankton(
    root: str | Path | None = None, cache_dir: str | Path | None = None, *, strict: bool = False
) -> PlanktonArrays:
    """The decoded PlanktonSet, from the cache when its fingerprint matches, else decoded and cached."""
    location = plankton_location(root)
    base = cache_root(cache_dir) / f"plankton-{FORMAT}-{_fingerprint(location)}"
    cached = load_arrays(base)
    if cached is None:
        arrays = decode(location, strict)
        save_arrays(base, arrays.images, labels=arrays.labels, classes=np.array(arrays.classes),
                    names=np.array(arrays.names), skipped=np.array(arrays.skipped, dtype=str))  # fmt: skip
        cached = load_arrays(base)
    images, meta = cached
    labels, classes, names, skipped = (meta[k] for k in ("labels", "classes", "names", "skipped"))
    if strict and len(skipped):
        raise StnlabError(f"{location}: {skipped[0]} (and {len(skipped) - 1} more) are not readable images; "
                          f"remove them")  # fmt: skip
    return PlanktonArrays(images, labels, classes.tolist(), names.tolist(), skipped.tolist())


__all__ = ["BAD_IMAGE_ERRORS", "SIZE", "TAR_NAME", "PlanktonArrays", "decode", "load_plankton", "plankton_location",
           "preprocess"]
