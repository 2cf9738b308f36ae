"""Data-root management behind ``stnlab data``: status, fetch and import of each data set."""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

from stnlab.data import mnist, plankton, svhn
from stnlab.data.paths import atomic_path, cache_root, data_root
from stnlab.errors import StnlabError
from stnlab.io import clean_stale_parts

DATASETS = ("mnist", "plankton", "svhn")


def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise StnlabError(f"unknown data set {name!r}; use one of {', '.join(DATASETS)}")


def _plankton_status(root: str | Path | None) -> tuple[bool, str]:
    try:
        location = plankton.plankton_location(root)
    except StnlabError as err:
        return False, str(err)
    if location.is_dir():
        classes = [p for p in location.iterdir() if p.is_dir()]
        n = sum(1 for c in classes for f in c.iterdir() if f.is_file())
    else:
        try:
            with tarfile.open(location) as tar:
                files = [m.name for m in tar if m.isfile()]
        except (tarfile.TarError, OSError, EOFError) as err:
            return False, f"{location} is not a readable tar ({err}); replace it"
        classes, n = {f.rsplit("/", 2)[-2] for f in files if f.count("/") >= 1}, len(files)
    return n > 0, f"{location}: {n} files in {len(classes)} class folders"


def _svhn_status(root: str | Path | None) -> tuple[bool, str]:
    base = data_root(root) / "svhn"
    found = []
    for split in svhn.SPLITS:
        if (base / split / "digitStruct.mat").is_file():
            found.append(f"{split}/ (folder)")
        elif (base / f"{split}.tar.gz").is_file():
            found.append(f"{split}.tar.gz")
    ok = any(f.startswith("train") for f in found) and any(f.startswith("test") for f in found)
    if not found:
        return False, f"SVHN not found; {svhn.missing_message(root)}"
    return ok, f"{base}: {', '.join(found)}" + ("" if ok else " (train and test are both needed)")


def status(root: str | Path | None = None) -> list[tuple[str, bool, str]]:
    """``[(data set, ok, one-line description)]`` for every data set in the data root."""
    return [
        ("mnist", *mnist.mnist_status(root)),
        ("plankton", *_plankton_status(root)),
        ("svhn", *_svhn_status(root)),
    ]


def fetch(name: str, root: str | Path | None = None, *, progress: bool = True) -> str:
    """Download data set ``name`` into the data root (only what is missing); returns a summary line."""
    _check_name(name)
    if name == "mnist":
        return f"mnist ready in {mnist.fetch_mnist(root, progress=progress)}"
    if name == "plankton":
        plankton.plankton_location(root)  # raises with the instructions when absent
        return "plankton already present"
    base = svhn.fetch_svhn(root, progress=progress)
    return f"svhn ready in {base}"


def _copy(src: Path, target: Path) -> Path:
    """Copy a file or folder to ``target`` through a temporary name; never over existing data."""
    if target.exists():
        raise StnlabError(f"{target} already exists; remove it first to import anew")
    clean_stale_parts(target.parent)  # what a killed earlier import left
    with atomic_path(target) as tmp:
        if src.is_dir():
            shutil.copytree(src, tmp)
        else:
            shutil.copyfile(src, tmp)
    return target


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
    _check_name(name)
    path = Path(path).expanduser()
    if not path.exists():
        raise StnlabError(f"{path} does not exist; pass the file or folder that holds the {name} data")
    if path.is_dir():
        check_links(path)
    if name == "mnist":
        return mnist.import_mnist(path, root)
    if name == "plankton":
        folder = path / "train" if (path / "train").is_dir() else path
        plankton.decode(folder)  # validates every image (unreadable ones are counted in a warning)
        target = data_root(root) / "plankton" / (plankton.TAR_NAME if path.is_file() else "train")
        return [_copy(folder, target)]
    copied = []
    base = data_root(root) / "svhn"
    for split in svhn.SPLITS:
        candidates = [path / split, path / f"{split}.tar.gz"] if path.is_dir() else [path]
        for cand in candidates:
            if cand.is_dir() and (cand / "digitStruct.mat").is_file():
                svhn.read_digitstruct(cand / "digitStruct.mat")
                copied.append(_copy(cand, base / split))
            elif cand.is_file() and cand.name == f"{split}.tar.gz":
                svhn.check_archive(cand, split)
                copied.append(_copy(cand, base / cand.name))
    if not copied:
        raise StnlabError(f"{path} holds no SVHN split ({{train,test,extra}}/digitStruct.mat or *.tar.gz)")
    return copied


def prepare(name: str, root: str | Path | None = None, cache_dir: str | Path | None = None) -> str:
    """Build the decoded cache of ``name`` now (before a multi-process run); returns a summary line."""
    _check_name(name)
    if name == "mnist":
        sizes = [len(mnist.load_mnist(split, root)[0]) for split in mnist.COUNTS]
        return f"mnist: {sizes[0]} train + {sizes[1]} test images (no cache needed)"
    if name == "plankton":
        arrays = plankton.load_plankton(root, cache_dir)
        return (f"plankton: {len(arrays.labels)} images in {len(arrays.classes)} classes cached in "
                f"{cache_root(cache_dir)} ({len(arrays.skipped)} unreadable skipped)")  # fmt: skip
    loaded = {split: svhn.load_split(split, root, cache_dir) for split in svhn.SPLITS}
    found = {k: v for k, v in loaded.items() if v is not None}
    if not found:
        raise StnlabError(f"SVHN not found; {svhn.missing_message(root)}")
    parts = ", ".join(f"{k} {len(v[0])} (dropped {v[2]})" for k, v in found.items())
    return f"svhn: {parts} cached in {cache_root(cache_dir)}"


__all__ = ["DATASETS", "fetch", "import_data", "prepare", "status"]
