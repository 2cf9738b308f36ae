"""Reading an ``npz:`` data set's arrays (``x_train``, ``y_train``, optional ``x_val``/``y_val``, ``x_test``/``y_test``,
``classes``), checked with one-line errors; :mod:`stnlab.data.custom` turns them into a data set."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from stnlab.errors import StnlabError

SPLIT_CODE = {"train": 0, "val": 1, "test": 2}


def npz_images(z: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
    """The images ``z[key]`` as uint8 ``N x C x H x W`` (C = 1 or 3; float [0, 1] scaled to 0..255)."""
    x = z[key]
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        hint = " (it looks like N x H x W x C: store x.transpose(0, 3, 1, 2))" if x.ndim == 4 and \
            x.shape[-1] in (1, 3) else ""
        raise StnlabError(f"npz: {path}: {key} has shape {x.shape}; store N x H x W or N x C x H x W images "
                          f"with C = 1 or 3{hint}")
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x)
    if np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
            raise StnlabError(f"npz: {path}: float {key} must hold values in [0, 1] "
                              f"(got {x.min():g} .. {x.max():g}); scale it, or store uint8 0..255")
        return np.ascontiguousarray(np.round(x * 255).astype(np.uint8))
    raise StnlabError(f"npz: {path}: {key} has dtype {x.dtype}; store uint8 (0..255) or float (0..1) images")


def npz_labels(z: np.lib.npyio.NpzFile, key: str, path: Path, n: int) -> np.ndarray:
    """The ``n`` labels ``z[key]`` as int64 (integers >= 0, one per image)."""
    y = z[key]
    if not np.issubdtype(y.dtype, np.integer) or y.shape != (n,) or (n and y.min() < 0):
        raise StnlabError(f"npz: {path}: {key} must be {n} integer labels >= 0 (one per image), got dtype "
                          f"{y.dtype} and shape {y.shape}")
    return y.astype(np.int64)


def read_npz(path: Path) -> tuple[list[tuple[int, np.ndarray, np.ndarray]], list[str] | None]:
    """``([(split code, images N x C x H x W uint8, labels)], class names or None)`` of the .npz file ``path``."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise StnlabError(f"npz: {path} holds one array (a .npy file), not an .npz archive of named "
                              f"arrays; save the data set with numpy.savez(FILE, x_train=..., y_train=...)")
        with loaded as z:
            missing = [k for k in ("x_train", "y_train") if k not in z.files]
            if missing:
                raise StnlabError(f"npz: {path} lacks {' and '.join(missing)} (has: "
                                  f"{', '.join(z.files) or 'nothing'}); save it with "
                                  f"numpy.savez(FILE, x_train=..., y_train=..., [x_test=..., y_test=...])")
            parts = []
            for split, code in SPLIT_CODE.items():
                keys = (f"x_{split}", f"y_{split}")
                if sum(k in z.files for k in keys) == 1:
                    raise StnlabError(f"npz: {path} has only one of {keys[0]} and {keys[1]}; store both or neither")
                if keys[0] in z.files:
                    x = npz_images(z, keys[0], path)
                    parts.append((code, x, npz_labels(z, keys[1], path, len(x))))
            classes = [str(c) for c in z["classes"].tolist()] if "classes" in z.files else None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        if isinstance(err, StnlabError):
            raise
        raise StnlabError(f"npz: {path} is not a readable .npz of plain arrays ({str(err)[:100]}); "
                          f"save it with numpy.savez") from None
    return parts, classes


__all__ = ["SPLIT_CODE", "npz_images", "npz_labels", "read_npz"]
