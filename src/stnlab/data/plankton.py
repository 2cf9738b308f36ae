"""PlanktonSet (NDSB): decode once to a cached uint8 array, stratified splits, batched augmentation.

Source: ``<data root>/plankton/ndsb_train.tar`` or ``<data root>/plankton/train/<class>/<id>.jpg``
(class = folder name). Each image is converted to grey, inverted (the organism becomes bright on black),
its longest side shrunk to 95 px (never enlarged, PIL bilinear with antialiasing) and centre-padded to
95 x 95. Files that are not readable images are skipped, counted and reported with a warning
(``strict=True`` refuses them); an empty class folder is an error.

The decoded array is cached in the cache folder as ``plankton-v1-<fingerprint>.npy`` (+ ``.meta.npz``);
the fingerprint hashes the tar's size and mtime (or the folder's file list with sizes and mtimes).

Splits: per class, a fixed permutation (key ``make_key("plankton-split", SPLIT_SEED, class)``) gives
``round(10%)`` test, ``round(10%)`` val (each at least 1 for classes of >= 3 images), the rest train.
Training batches are augmented as the authors did: rotation ``U(-180, 180)`` degrees, translation
``U(-10, 10)`` px per axis, shear ``U(-20, 20)`` degrees, scale log-uniform in ``[1/1.3, 1.3]`` and a
horizontal flip with probability 1/2, all in one warp; val/test are not augmented. Params: ``angle``
(counter-clockwise on screen), ``scale``, ``shear`` (the factor ``tan(shear angle)``), ``flip`` (1.0 when
flipped), ``tx``, ``ty``; the content map is ``affine_matrix(-angle, (scale * (1 - 2 flip), scale), (tx, ty),
shear)`` and ``matrix`` (the sampling matrix given to ``warp``) is its inverse, built by
``stnlab.geometry.out_to_in_from_content`` as for the MNIST protocols.
"""

from __future__ import annotations

import hashlib
import io
import math
import tarfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from stnlab.data.cache import load_arrays, save_arrays
from stnlab.data.paths import cache_root, data_root, file_fingerprint
from stnlab.data.rng import make_key, permutation, uniform
from stnlab.data.source import BatchSource
from stnlab.errors import StnlabError
from stnlab.geometry import out_to_in_from_content, pixels_to_normalized, warp

SIZE = 95
FORMAT = "v1"
SPLIT_SEED = 0
VAL_FRACTION = TEST_FRACTION = 0.1
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


def split_indices(labels: np.ndarray, classes: list[str], *, salt: str = "plankton-split",
                  holdout: tuple[str, ...] = ("test", "val")) -> dict[str, Tensor]:
    """Stratified train/val/test indices (int64) into the decoded array: train sorted, val/test in a fixed
    mixed order.

    Per class, a fixed permutation (key ``make_key(salt, SPLIT_SEED, class name)``) puts ``round(10%)``
    of the images (at least 1, for classes of >= 3 images) into each split of ``holdout``, the rest into
    train; a split not in ``holdout`` is empty (the user's data sets reuse this rule for missing splits).
    """
    out: dict[str, list[Tensor]] = {"train": [], "val": [], "test": []}
    labels_t = torch.from_numpy(np.asarray(labels))
    for c, name in enumerate(classes):
        members = torch.nonzero(labels_t == c)[:, 0]
        members = members[permutation(make_key(salt, SPLIT_SEED, name), len(members))]
        n = len(members)
        n_test = max(1, round(TEST_FRACTION * n)) if n >= 3 and "test" in holdout else 0
        n_val = max(1, round(VAL_FRACTION * n)) if n >= 3 and "val" in holdout else 0
        out["test"].append(members[:n_test])
        out["val"].append(members[n_test : n_test + n_val])
        out["train"].append(members[n_test + n_val :])
    # train in file order (its batches are shuffled anyway); val/test in a fixed mixed order, so that their
    # first N samples (``val_samples``, a budget's ``eval_samples``, an ST grid's images) span the classes
    splits = {k: torch.cat(v).sort().values for k, v in out.items()}
    for k in ("val", "test"):
        splits[k] = splits[k][permutation(make_key(salt + "-order", SPLIT_SEED, k), len(splits[k]))]
    return splits


def augmentation(key: int, index: Tensor, amplitude: float = 1.0) -> dict[str, Tensor]:
    """The authors' training augmentation of samples ``index``: params and the sampling ``matrix``.

    ``amplitude`` in [0, 1] shrinks every draw toward the image as it is (the same random numbers): the
    angle, shift, shear angle and log-scale are multiplied by it and the flip probability is ``amplitude / 2``;
    1 is the authors' augmentation, 0 none (``transform_warmup``)."""
    u = uniform(key, index, 6).float()  # B x 6
    angle = (u[:, 0] * 2 - 1) * (math.pi * amplitude)
    shift = (u[:, 1:3] * 2 - 1) * (10.0 * amplitude)  # B x 2, pixels
    tx, ty = pixels_to_normalized(shift, SIZE).unbind(1)
    shear = torch.tan((u[:, 3] * 2 - 1) * math.radians(20.0 * amplitude))
    scale = torch.exp((u[:, 4] * 2 - 1) * (math.log(1.3) * amplitude))
    flip = (u[:, 5] < 0.5 * amplitude).float()
    out_to_in = out_to_in_from_content(SIZE, angle=angle, scale=(scale * (1 - 2 * flip), scale), shear=shear,
                                       shift=(shift[:, 0], shift[:, 1]))  # fmt: skip
    return {"angle": angle, "scale": scale, "shear": shear, "flip": flip, "tx": tx, "ty": ty, "matrix": out_to_in}


class PlanktonSource(BatchSource):
    """A split of PlanktonSet: ``1 x 95 x 95`` images, 121 classes; train batches augmented (ramped in over the
    first epochs with :meth:`set_warmup`)."""

    ramps_transforms = True

    def __init__(
        self,
        split: str = "train",
        *,
        root: str | Path | None = None,
        cache_dir: str | Path | None = None,
        seed: int = 0,
        strict: bool = False,
    ) -> None:
        super().__init__("plankton", split, seed)
        self.arrays = load_plankton(root, cache_dir, strict=strict)
        self.indices = split_indices(self.arrays.labels, self.arrays.classes)[split]
        self.labels = torch.from_numpy(self.arrays.labels)[self.indices]
        self.classes = self.arrays.classes
        self.num_classes = len(self.classes)
        self.num_samples = len(self.indices)
        self.image_shape = (1, SIZE, SIZE)

    def render(self, index: Tensor, epoch: int) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Images ``B x 1 x 95 x 95``, labels and params (augmented on the train split only)."""
        index = torch.as_tensor(index, dtype=torch.long)
        rows = self.indices[index].numpy()
        images = torch.from_numpy(np.ascontiguousarray(self.arrays.images[rows])).float().div_(255.0)[:, None]
        if self.split == "train":
            params = augmentation(self.epoch_key(epoch), index, self.amplitude(epoch))
            images = warp(images, params["matrix"]).clamp_(0.0, 1.0)
        else:
            b = len(index)
            zero = torch.zeros(b)
            params = {"angle": zero, "scale": torch.ones(b), "shear": zero, "flip": zero, "tx": zero,
                      "ty": zero, "matrix": torch.eye(3).expand(b, 3, 3).clone()}  # fmt: skip
        return images, self.labels[index], params


__all__ = ["PlanktonArrays", "PlanktonSource", "decode", "load_plankton", "preprocess", "split_indices"]
