"""SVHN format-1 files: parse ``digitStruct.mat``, crop and cache the digit boxes, extract the archives.

Source per split (``train``, ``test``, ``extra``): ``<data root>/svhn/<split>/digitStruct.mat`` + PNGs, or
the distributed ``<data root>/svhn/<split>.tar.gz`` (extracted once into the cache folder). For each
image: the union of its digit boxes, enlarged by 30% about its centre, is cropped (pixels outside the
image are black) and resized to 64 x 64 RGB (PIL bilinear). Labels are 5 positions of 11 classes: the
digits left to right (digitStruct's label 10 means the digit 0) and class 10 (``NO_DIGIT``) after the
last digit; numbers with more than 5 digits are dropped and counted. Crops are cached as uint8 in the
cache folder (``svhn-v1-<split>-<fingerprint>.npy``). The data set itself is :mod:`stnlab.data.svhn`.
"""

from __future__ import annotations

import hashlib
import tarfile
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from stnlab.data.cache import load_arrays, save_arrays
from stnlab.data.paths import atomic_path, cache_root, data_root, file_fingerprint
from stnlab.errors import StnlabError

try:  # an optional dependency: pip install "stnlab[svhn]"
    import h5py
except ImportError:  # pragma: no cover - exercised by monkeypatching in the tests
    h5py = None

SIZE = 64
MAX_DIGITS = 5
NO_DIGIT = 10
ENLARGE = 1.3
FORMAT = "v1"
SPLITS = ("train", "test", "extra")
_FIELDS = ("label", "left", "top", "width", "height")


def read_digitstruct(path: Path) -> list[tuple[str, dict[str, list[float]]]]:
    """Parse a format-1 ``digitStruct.mat`` (MATLAB 7.3 = HDF5): ``[(file name, {field: [per digit]})]``."""
    if h5py is None:
        raise StnlabError("reading SVHN needs h5py, which is not installed; pip install \"stnlab[svhn]\"")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise StnlabError(f"{path} is not an HDF5 (MATLAB 7.3) digitStruct.mat ({err}); use SVHN format 1") from None
    with f:
        try:
            names, boxes = f["digitStruct/name"][()].ravel(), f["digitStruct/bbox"][()].ravel()
        except KeyError:
            raise StnlabError(
                f"{path} lacks the fields digitStruct/name and digitStruct/bbox; is it SVHN format 1?"
            ) from None
        if len(names) != len(boxes):
            raise StnlabError(f"{path}: {len(names)} names but {len(boxes)} bboxes; replace the file")
        records = []
        for name_ref, box_ref in zip(names, boxes):
            name = "".join(chr(int(c)) for c in f[name_ref][()].ravel())
            group = f[box_ref]
            missing = [k for k in _FIELDS if k not in group]
            if missing:
                raise StnlabError(f"{path}: bbox of {name} lacks {', '.join(missing)}; is it SVHN format 1?")
            fields = {}
            for k in _FIELDS:
                d = group[k]
                if h5py.check_dtype(ref=d.dtype) is not None:  # several digits: one reference each
                    fields[k] = [float(np.asarray(f[r][()]).ravel()[0]) for r in d[()].ravel()]
                else:
                    fields[k] = [float(v) for v in np.asarray(d[()]).ravel()]
            records.append((name, fields))
    return records


def crop_box(fields: dict[str, list[float]]) -> tuple[int, int, int, int]:
    """The union of the digit boxes enlarged by 30% about its centre: ``(left, top, right, bottom)`` px."""
    x0, y0 = min(fields["left"]), min(fields["top"])
    x1 = max(l + w for l, w in zip(fields["left"], fields["width"]))
    y1 = max(t + h for t, h in zip(fields["top"], fields["height"]))
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * ENLARGE / 2, (y1 - y0) * ENLARGE / 2
    return round(cx - hw), round(cy - hh), round(cx + hw), round(cy + hh)


def sequence_labels(digits: list[float]) -> np.ndarray:
    """Five position labels: the digits (10 -> 0) then ``NO_DIGIT``."""
    out = np.full(MAX_DIGITS, NO_DIGIT, dtype=np.int64)
    out[: len(digits)] = [int(d) % 10 for d in digits]
    return out


def decode_split(folder: Path) -> tuple[np.ndarray, np.ndarray, list[str], int]:
    """Crops ``N x 3 x 64 x 64`` uint8, labels ``N x 5``, file names and the count of >5-digit numbers dropped."""
    mat = folder / "digitStruct.mat"
    if not mat.is_file():
        raise StnlabError(f"{mat} is missing; put the SVHN format-1 folder (digitStruct.mat + PNGs) there")
    crops, labels, names, dropped = [], [], [], 0
    for name, fields in read_digitstruct(mat):
        if len(fields["label"]) > MAX_DIGITS:
            dropped += 1
            continue
        try:
            with Image.open(folder / name) as im:
                crop = im.convert("RGB").crop(crop_box(fields)).resize((SIZE, SIZE), Image.BILINEAR)
        except (OSError, SyntaxError, ValueError) as err:
            raise StnlabError(f"{folder / name} is not a readable image ({err}); replace it") from None
        crops.append(np.asarray(crop, dtype=np.uint8).transpose(2, 0, 1))
        labels.append(sequence_labels(fields["label"]))
        names.append(name)
    if not crops:
        raise StnlabError(f"{mat} lists no usable image; replace the SVHN folder")
    return np.stack(crops), np.stack(labels), names, dropped


def _safe_extract(tar: tarfile.TarFile, dest: Path) -> None:
    """Extract only plain files and folders inside ``dest``: ``filter="data"`` where Python has it (3.10.12+,
    3.11.4+), else the same refusal of links, devices and paths that leave ``dest``, checked here."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
        return
    for m in tar.getmembers():
        if not (m.isfile() or m.isdir()) or Path(m.name).is_absolute() or ".." in Path(m.name).parts:
            raise tarfile.TarError(f"unsafe member {m.name!r}")
    tar.extractall(dest)  # every member was checked above


def split_location(split: str, root: str | Path | None, cache_dir: str | Path | None) -> Path | None:
    """The folder of an SVHN split (extracting its ``.tar.gz`` into the cache), or None when absent."""
    base = data_root(root) / "svhn"
    if (base / split / "digitStruct.mat").is_file():
        return base / split
    archive = base / f"{split}.tar.gz"
    if not archive.is_file():
        return None
    tag = hashlib.sha1(file_fingerprint(archive).encode()).hexdigest()[:16]
    target = cache_root(cache_dir) / f"svhn-extract-{split}-{tag}"
    if not target.is_dir():
        with atomic_path(target) as tmp:
            try:
                with tarfile.open(archive) as tar:
                    _safe_extract(tar, tmp)
            except (tarfile.TarError, OSError, EOFError) as err:
                raise StnlabError(f"{archive} is not a readable tar.gz ({err}); replace it") from None
    inner = target / split
    return inner if inner.is_dir() else target


def load_split(
    split: str, root: str | Path | None = None, cache_dir: str | Path | None = None
) -> tuple[np.ndarray, np.ndarray, int] | None:
    """``(crops memmap, labels, dropped)`` of an SVHN split (decoded once, then from the cache), or None."""
    folder = split_location(split, root, cache_dir)
    if folder is None:
        return None
    tag = hashlib.sha1(f"{folder.name}:{file_fingerprint(folder / 'digitStruct.mat')}".encode()).hexdigest()[:16]
    base = cache_root(cache_dir) / f"svhn-{FORMAT}-{split}-{tag}"
    cached = load_arrays(base)
    if cached is None:
        crops, labels, names, dropped = decode_split(folder)
        if dropped:
            warnings.warn(f"{folder}: dropped {dropped} number(s) with more than {MAX_DIGITS} digits", stacklevel=2)
        save_arrays(base, crops, labels=labels, names=np.array(names), dropped=np.array(dropped))
        cached = load_arrays(base)
    images, meta = cached
    return images, meta["labels"], int(meta["dropped"])


def check_archive(path: Path, split: str) -> None:
    """Raise unless ``path`` is a readable tar.gz holding ``<split>/digitStruct.mat``."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            names = {m.name.lstrip("./") for m in tar}
    except (tarfile.TarError, OSError, EOFError) as err:
        raise StnlabError(f"{path} is not a readable tar.gz ({err}); replace it") from None
    if f"{split}/digitStruct.mat" not in names:
        raise StnlabError(f"{path} holds no {split}/digitStruct.mat; use the SVHN format-1 {split}.tar.gz")


__all__ = ["MAX_DIGITS", "NO_DIGIT", "SIZE", "SPLITS", "check_archive", "crop_box", "decode_split", "load_split",
           "read_digitstruct", "sequence_labels", "split_location"]
