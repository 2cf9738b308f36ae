"""Data-root management behind ``stnlab data``: status, fetch, import and prepare of every registered data set
that lives in the data root (each data set's module gives these functions to its :class:`DatasetInfo`)."""

from __future__ import annotations

import os
from pathlib import Path

from stnlab.data.spec import DatasetInfo, registered
from stnlab.errors import StnlabError


def root_names() -> tuple[str, ...]:
    """The registered data sets that live in the data root (``mnist``, ``plankton``, ``svhn``)."""
    return tuple(name for name, info in registered().items() if info.status is not None)


def _info(name: str) -> DatasetInfo:
    if name not in root_names():
        raise StnlabError(f"unknown data set {name!r}; use one of {', '.join(root_names())}")
    return registered()[name]


def status(root: str | Path | None = None) -> list[tuple[str, bool, str]]:
    """``[(data set, ok, one-line description)]`` for every data set in the data root."""
    return [(name, *registered()[name].status(root)) for name in root_names()]


def fetch(name: str, root: str | Path | None = None, *, progress: bool = True) -> str:
    """Download data set ``name`` into the data root (only what is missing); returns a summary line."""
    info = _info(name)
    if info.fetch is None:
        raise StnlabError(f"{name} cannot be fetched; put its files in the data root or `stnlab data import`")
    return info.fetch(root, progress)


def check_links(src: Path) -> None:
    """Refuse, before anything is read or copied, a link in the folder ``src`` that loops, dangles, points
    to a folder (a link to a folder can loop) or leads out of ``src``: an import copies the files of the
    source tree and never follows a link out of it."""
    base = src.resolve()
    for folder, dirs, files in os.walk(src):  # does not descend into links to folders
        for link in (Path(folder) / n for n in (*dirs, *files) if (Path(folder) / n).is_symlink()):
            try:
                target = link.resolve(strict=True)
            except (OSError, RuntimeError):  # a loop, or a link to nothing
                raise StnlabError(f"{link} is a link that loops or points to nothing; remove it, then import "
                                  f"again") from None
            if not target.is_relative_to(base):
                raise StnlabError(f"{link} links to {target}, outside {src}; an import never follows a link out "
                                  f"of the source folder: copy the file in (cp -L) or remove the link") from None
            if target.is_dir():
                raise StnlabError(f"{link} is a link to a folder, which an import does not follow (it can "
                                  f"loop); put the folder itself there or remove the link")


def import_data(name: str, path: str | Path, root: str | Path | None = None) -> list[Path]:
    """Validate local files of data set ``name`` at ``path`` and copy them into the data root."""
    info = _info(name)
    path = Path(path).expanduser()
    if not path.exists():
        raise StnlabError(f"{path} does not exist; pass the file or folder that holds the {name} data")
    if path.is_dir():
        check_links(path)
    if info.import_files is None:
        raise StnlabError(f"{name} cannot be imported; put its files in the data root")
    return info.import_files(path, root)


def prepare(name: str, root: str | Path | None = None, cache_dir: str | Path | None = None) -> str:
    """Build the decoded cache of ``name`` now (before a multi-process run); returns a summary line."""
    info = _info(name)
    if info.prepare is None:
        return f"{name}: nothing to prepare"
    return info.prepare(root, cache_dir)


__all__ = ["check_links", "fetch", "import_data", "prepare", "root_names", "status"]
