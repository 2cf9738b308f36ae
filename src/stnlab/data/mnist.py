"""MNIST, the registered data set ``mnist`` and its variants ``mnist-rot``, ``mnist-trans``, ``mnist-scale``.

Its facts, stated once here: 1 x 28 x 28 grey digits, 10 classes; the splits (``train`` = MNIST train minus
``val``; ``val`` = 10,000 MNIST train images chosen by a fixed permutation, key ``make_key("mnist-val",
VAL_SEED)``, independent of the source seed; ``test`` = MNIST test); the canonical md5s; the papers' R, T and
S protocols as named variants (any other transform kind as ``mnist --set protocol=KIND``); the run-config
defaults. Files live in ``<data root>/mnist/`` under their standard names, gzipped or not. The md5s are those
of the *decompressed* canonical IDX bytes, so any gzip of the right bytes is accepted. This module parses and
validates the IDX files, loads, fetches and imports them, and registers the data set.
"""

from __future__ import annotations

import functools
import gzip
import shutil
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from stnlab.data.dataspec import DataSpec
from stnlab.data.download import download_file, md5_bytes
from stnlab.data.paths import atomic_path, data_root
from stnlab.data.protocols import ProtocolSource, SplitImages, resize_images
from stnlab.data.rng import make_key, permutation
from stnlab.data.spec import BUILTIN, DatasetInfo, SourceOptions, register_dataset, variant_name
from stnlab.errors import StnlabError

FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
COUNTS = {"train": 60000, "test": 10000}
VAL_SEED = 0
VAL_SIZE = 10000
MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
_MAGIC = {"images": (0x00000803, 3), "labels": (0x00000801, 1)}


def mnist_dir(root: str | Path | None = None) -> Path:
    """``<data root>/mnist``."""
    return data_root(root) / "mnist"


def find_file(folder: Path, name: str) -> Path | None:
    """``folder/name`` or ``folder/name.gz``, whichever exists (raw first)."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def missing_message(root: Path) -> str:
    """The one-line advice for missing MNIST files."""
    return (
        f"put the four MNIST IDX files (train-images-idx3-ubyte.gz, ...) in {root / 'mnist'}/, "
        f"or run `stnlab data fetch mnist` (needs network) or `stnlab data import mnist PATH`"
    )


def read_bytes(path: Path) -> bytes:
    """The decompressed bytes of an IDX file (gzip, recognised by its magic bytes, or raw)."""
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if data[:2] == b"\x1f\x8b" or path.suffix == ".gz" else data
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise StnlabError(f"{path} is not a readable (gzip) IDX file ({err}); replace it with a good copy") from None


def parse_idx(data: bytes, kind: str, path: Path, what: str = "MNIST") -> np.ndarray:
    """Parse IDX bytes of ``kind`` ("images" or "labels"); check the magic number and the size."""
    magic, ndim = _MAGIC[kind]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise StnlabError(f"{path} is truncated ({len(data)} bytes, no IDX header); replace it with a good copy")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise StnlabError(
            f"{path} has IDX magic number {found:#010x}, expected {magic:#010x} for {what} {kind}; "
            f"is it the right file? replace it with a good copy"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "longer than its header says"
        raise StnlabError(
            f"{path} is {what} ({len(data)} bytes, header shape {shape} needs {expected}); "
            f"replace it with a good copy"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def check_md5(data: bytes, name: str, path: Path) -> None:
    """Raise when ``data`` (decompressed) is not the canonical MNIST file ``name``."""
    digest = md5_bytes(data)
    if digest != MD5[name]:
        raise StnlabError(
            f"{path}: md5 of the decompressed data is {digest}, expected {MD5[name]} for {name}; "
            f"replace it (stnlab data fetch mnist / stnlab data import mnist PATH)"
        )


def read_split(folder: Path, split: str, verify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Images ``N x 28 x 28`` and labels ``(N,)`` (uint8 arrays) of a split, validated."""
    arrays = {}
    for kind in ("images", "labels"):
        name = FILES[(split, kind)]
        path = find_file(folder, name)
        if path is None:
            raise StnlabError(f"MNIST file {folder / name}[.gz] is missing; {missing_message(folder.parent)}")
        data = read_bytes(path)
        arrays[kind] = parse_idx(data, kind, path)
        if verify:
            check_md5(data, name, path)
    images, labels = arrays["images"], arrays["labels"]
    if len(images) != len(labels):
        raise StnlabError(
            f"{folder}: {len(images)} images but {len(labels)} labels in the {split} files; "
            f"the files do not belong together, replace them with the canonical ones"
        )
    if images.shape[1:] != (28, 28):
        raise StnlabError(f"{folder}: {split} images are {images.shape[1:]}, expected 28 x 28; use MNIST files")
    return images, labels


@functools.lru_cache(maxsize=4)
def _load_cached(folder: str, split: str, stamp: tuple, verify: bool) -> tuple[Tensor, Tensor]:
    images, labels = read_split(Path(folder), split, verify)
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def _stamp(folder: Path, split: str) -> tuple:
    out = []
    for kind in ("images", "labels"):
        path = find_file(folder, FILES[(split, kind)])
        st = path.stat() if path else None
        out.append((str(path), st.st_size if st else -1, st.st_mtime_ns if st else -1))
    return tuple(out)


def load_mnist(
    split: str, root: str | Path | None = None, *, verify: bool = True, download: bool = True
) -> tuple[Tensor, Tensor]:
    """MNIST ``split`` ("train" or "test"): uint8 images ``N x 28 x 28`` and int64 labels ``(N,)``.

    Validates the IDX structure and (``verify``) the canonical md5s. Missing files are fetched when
    ``download`` and a mirror answers; otherwise a :class:`StnlabError` says where to put them.
    Results are memoised per (folder, split, file size and mtime).
    """
    if split not in COUNTS:
        raise StnlabError(f"unknown MNIST split {split!r}; use 'train' or 'test'")
    folder = mnist_dir(root)
    if download and any(find_file(folder, FILES[(split, k)]) is None for k in ("images", "labels")):
        fetch_mnist(root, progress=True)
    return _load_cached(str(folder), split, _stamp(folder, split), verify)


def fetch_mnist(root: str | Path | None = None, *, progress: bool = True, timeout: float | None = None) -> Path:
    """Download the missing MNIST files into ``<root>/mnist`` (md5-checked, atomic); return the folder."""
    folder = mnist_dir(root)
    for name in MD5:
        if find_file(folder, name) is not None:
            continue

        def verify(tmp: Path, name: str = name) -> None:
            check_md5(read_bytes(tmp), name, Path(f"downloaded {name}.gz"))

        try:
            download_file(
                [f"{m}{name}.gz" for m in MIRRORS], folder / f"{name}.gz", verify,
                progress=progress, **({"timeout": timeout} if timeout else {}),
            )  # fmt: skip
        except StnlabError as err:
            raise StnlabError(f"{err}; {missing_message(data_root(root))}") from None
    return folder


def import_mnist(source: Path, root: str | Path | None = None) -> list[Path]:
    """Validate the four MNIST files found in folder ``source`` and copy them into the data root."""
    source = Path(source)
    if not source.is_dir():
        raise StnlabError(f"{source} is not a folder; pass the folder that holds the four MNIST IDX files")
    for split in COUNTS:
        read_split(source, split, verify=True)
    copied = []
    for name in MD5:
        src = find_file(source, name)
        target = mnist_dir(root) / src.name
        with atomic_path(target) as tmp:
            shutil.copyfile(src, tmp)
        copied.append(target)
    return copied


def mnist_status(root: str | Path | None = None) -> tuple[bool, str]:
    """(ok, one-line description) of the MNIST files in the data root."""
    folder = mnist_dir(root)
    try:
        counts = [len(read_split(folder, split)[0]) for split in COUNTS]
    except StnlabError as err:
        return False, str(err)
    return True, f"{folder}: {counts[0]} train + {counts[1]} test images, md5 ok"


def val_indices() -> tuple[Tensor, Tensor]:
    """(train indices, val indices) into MNIST train: the fixed, documented hold-out (sorted int64)."""
    order = permutation(make_key("mnist-val", VAL_SEED), COUNTS["train"])
    return order[VAL_SIZE:].sort().values, order[:VAL_SIZE].sort().values


class MNISTSource(ProtocolSource):
    """A split of ``mnist``, ``mnist-rot``, ``mnist-trans`` or ``mnist-scale`` (:mod:`stnlab.data.protocols`).

    ``options.protocol`` applies a protocol to plain ``mnist`` (``mnist`` + ``rotation`` is ``mnist-rot``, the
    very same draws); ``options.image_size`` resizes the digits before the protocol.
    """

    def __init__(self, dataset: str, split: str = "train", options: SourceOptions | None = None) -> None:
        o = options or SourceOptions(download=True)
        if dataset not in ("mnist", *MNIST.variants):
            raise StnlabError(f"unknown MNIST protocol {dataset!r}; use one of mnist, {', '.join(MNIST.variants)}")
        dataset = variant_name(dataset, o.protocol)  # the random streams are named by the variant
        train_images, train_labels = load_mnist("train", o.root, download=o.download)
        train_idx, val_idx = val_indices()
        if split == "test":
            images, labels = load_mnist("test", o.root, download=o.download)
        else:
            keep = train_idx if split == "train" else val_idx
            images, labels = train_images[keep], train_labels[keep]
        pool = train_images[train_idx]  # training digits only, for every split
        if o.image_size is not None:
            images, pool = resize_images(images, o.image_size), resize_images(pool, o.image_size)
        own = BUILTIN[dataset].protocol  # a named variant's, else the protocol given (plain mnist)
        super().__init__(dataset, split, o.seed, SplitImages(images, labels, pool, 10),
                         own if own != "none" else o.protocol)


def prepare_mnist(root: str | Path | None = None, cache_dir: str | Path | None = None) -> str:
    """Check that both splits load (MNIST needs no decoded cache); a summary line."""
    sizes = [len(load_mnist(split, root)[0]) for split in COUNTS]
    return f"mnist: {sizes[0]} train + {sizes[1]} test images (no cache needed)"


MNIST = register_dataset(DatasetInfo(
    # the KTH papers: SGD, lr 0.01, batch 256, step decay; epochs: docs/training.md
    DataSpec("mnist", (1, 28, 28), 10, tuple(str(i) for i in range(10)), backbone="mnist", loc_net="mnist",
             content_size=28, defaults={"epochs": 50}),
    source=MNISTSource,
    variants={"mnist-rot": "rotation", "mnist-trans": "translation", "mnist-scale": "scale"},
    protocols=True,
    splits=f"train: MNIST train minus val; val: {VAL_SIZE} MNIST train images (fixed permutation, seed "
           f"{VAL_SEED}); test: MNIST test",
    checksums=MD5,
    status=mnist_status,
    fetch=lambda root, progress: f"mnist ready in {fetch_mnist(root, progress=progress)}",
    import_files=import_mnist,
    prepare=prepare_mnist,
))

__all__ = ["MIRRORS", "MNIST", "VAL_SEED", "VAL_SIZE", "MNISTSource", "fetch_mnist", "import_mnist", "load_mnist",
           "mnist_status", "parse_idx", "val_indices"]
