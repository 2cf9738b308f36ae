"""Decoded arrays in the cache folder: ``<base>.npy`` (images, memory-mapped on load) + ``<base>.meta.npz``.

Both files are written under temporary names and renamed; the meta file is written last, so a cache
entry exists only when it is complete.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stnlab.data.paths import atomic_path
from stnlab.io import clean_stale_parts


def _paths(base: Path) -> tuple[Path, Path]:
    return base.with_name(base.name + ".npy"), base.with_name(base.name + ".meta.npz")


def save_arrays(base: Path, images: np.ndarray, **meta: np.ndarray) -> None:
    """Write ``images`` and the ``meta`` arrays (no pickles) atomically (removing stale temporary files)."""
    img_path, meta_path = _paths(base)
    clean_stale_parts(base.parent)  # the temporary files of a killed earlier write
    with atomic_path(img_path) as tmp, open(tmp, "wb") as f:
        np.save(f, images)
    with atomic_path(meta_path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **meta)


def load_arrays(base: Path) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """``(images memmap, meta dict)`` of a complete cache entry, or None when there is none."""
    img_path, meta_path = _paths(base)
    if not (img_path.is_file() and meta_path.is_file()):
        return None
    with np.load(meta_path) as meta:
        values = {k: meta[k] for k in meta.files}
    return np.load(img_path, mmap_mode="r"), values


__all__ = ["load_arrays", "save_arrays"]
