"""Where data and caches live.

* **Data root** (``STNLAB_DATA``; default ``$XDG_CACHE_HOME/stnlab/data`` or ``~/.cache/stnlab/data``):
  the raw data sets, laid out as ``mnist/``, ``plankton/``, ``svhn/``. stnlab only reads it, except for
  ``stnlab data fetch`` and ``stnlab data import``.
* **Cache folder** (``STNLAB_CACHE`` or a ``cache_dir=`` argument; default ``.../stnlab/cache``): decoded
  arrays (plankton, SVHN crops) and extracted archives. Safe to delete.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from stnlab import io
from stnlab.errors import StnlabError


def _user_cache() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) if xdg else Path.home() / ".cache"


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$STNLAB_DATA``, else the user's cache folder."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("STNLAB_DATA")
    return Path(env).expanduser() if env else _user_cache() / "stnlab" / "data"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``cache_dir`` if given, else ``$STNLAB_CACHE``, else the user's cache folder."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("STNLAB_CACHE")
    return Path(env).expanduser() if env else _user_cache() / "stnlab" / "cache"


def ensure_dir(path: Path) -> Path:
    """Create ``path`` (and parents); a clear error when that is impossible."""
    return io.ensure_dir(path, hint="set STNLAB_CACHE/STNLAB_DATA to a writable folder")


atomic_path = io.atomic_path  # the one atomic writer (stnlab.io); kept here for the data modules


def file_fingerprint(path: Path) -> str:
    """``size-mtime_ns`` of a file: cheap identity for cache names."""
    st = path.stat()
    return f"{st.st_size}-{st.st_mtime_ns}"


def copy_into(src: Path, target: Path) -> Path:
    """Copy a file or folder to ``target`` through a temporary name (what a killed earlier copy left is
    removed first); never over existing data. Returns ``target``."""
    if target.exists():
        raise StnlabError(f"{target} already exists; remove it first to import anew")
    io.clean_stale_parts(target.parent)
    with atomic_path(target) as tmp:
        if src.is_dir():
            shutil.copytree(src, tmp)
        else:
            shutil.copyfile(src, tmp)
    return target


__all__ = ["atomic_path", "cache_root", "copy_into", "data_root", "ensure_dir", "file_fingerprint"]
