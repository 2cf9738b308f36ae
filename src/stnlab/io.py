"""File output that is never half-written, and JSON read strictly: one module for every writer in stnlab.

Every file stnlab writes goes to a temporary sibling first and is renamed onto its name only when
complete (``os.replace`` is atomic on one file system), so an interrupted run, a full disk or a crash
leaves the old file or none — never a truncated one. A folder that cannot be created (a missing parent
under a read-only tree, ``/proc``, a file in the way) is a one-line :class:`~stnlab.errors.StnlabError`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from stnlab.errors import StnlabError


def ensure_dir(path: str | Path, hint: str = "choose a writable location") -> Path:
    """Create the folder ``path`` (and its parents); a one-line :class:`StnlabError` when that is impossible."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StnlabError(f"cannot create folder {path} ({err.strerror or err}); {hint}") from None
    return path


def check_creatable(path: str | Path, what: str = "output") -> Path:
    """Check, before any work, that ``path`` can be created or written: its nearest existing ancestor is a
    folder in which a folder can be made (probed: permission bits do not tell for root, ``/proc``, read-only
    mounts). A one-line :class:`StnlabError` naming ``what`` (e.g. ``--out``) otherwise. Creates nothing."""
    if not str(path).strip():
        raise StnlabError(f"{what} is empty; give a path, or leave {what} out for the default")
    path = Path(path).absolute()
    check_name_lengths(path, what)
    ancestor = next(p for p in (path, *path.parents) if p.exists())
    if ancestor != path and not ancestor.is_dir():
        raise StnlabError(f"{what} {path}: {ancestor} is a file, not a folder; choose another location")
    folder = ancestor if ancestor.is_dir() else ancestor.parent
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".stnlab-probe-", dir=folder))
    except OSError as err:
        raise StnlabError(f"{what} {path}: cannot write in {folder} ({err.strerror or err}); "
                          f"choose a writable location") from None  # fmt: skip
    return path


def check_name_lengths(path: str | Path, what: str = "path") -> None:
    """A one-line :class:`StnlabError` when a component of ``path`` is longer than the file system allows
    (``NAME_MAX``, 255 bytes on most; probed at the nearest existing folder)."""
    path, limit = Path(path).absolute(), 255
    for folder in reversed(path.parents):  # the root first; the limit of the deepest existing folder
        try:
            limit = os.pathconf(folder, "PC_NAME_MAX")
        except (OSError, ValueError, AttributeError):
            break
    for part in path.parts:
        if len(os.fsencode(part)) > limit:
            raise StnlabError(f"{what}: the name {part[:24]}... is {len(os.fsencode(part))} bytes long, more than "
                              f"the {limit} a file name can have here; use a shorter name")


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary sibling path of ``target`` (nothing exists there yet: write a file or make a
    folder); on success rename it onto ``target``, on any failure remove it. Creates the parent folder."""
    target = Path(target)
    ensure_dir(target.parent)
    if not os.access(target.parent, os.W_OK):
        raise StnlabError(f"cannot write {target}: folder {target.parent} is not writable; choose another location")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        yield tmp
        try:
            os.replace(tmp, target)
        except OSError as err:  # e.g. a folder of that name is in the way
            raise StnlabError(f"cannot write {target} ({err.strerror or err}); choose another name") from None
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


_PART = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.part$")  # the temporary names of atomic_path
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (signal 0; another user's counts)."""
    try:
        os.kill(pid, 0)
    except PermissionError:  # alive, another user's
        return True
    except OSError:
        return False
    return True


def clean_stale_parts(folder: str | Path) -> list[Path]:
    """Remove the temporary files (and folders) of :func:`atomic_path` in ``folder`` whose writing process is
    gone (a killed write leaves them); those of a live process are kept. Returns what was removed."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:  # no folder yet, or not readable: nothing to clean
        return removed
    for p in entries:
        match = _PART.match(p.name)
        if match and int(match.group(1)) != os.getpid() and not pid_alive(int(match.group(1))):
            with contextlib.suppress(OSError):
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
                removed.append(p)
    return removed


def atomic_write(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp_path)`` (it creates the file), then rename it onto ``path``; returns ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON (with a final newline) to ``path`` atomically."""
    return write_text(path, json.dumps(data, indent=2) + "\n")


def _refuse_duplicates(source: str) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise StnlabError(f"{source}: key {key!r} appears twice; keep one of them")
            out[key] = value
        return out

    return hook


def parse_json(text: str, source: str = "JSON") -> Any:
    """Parse JSON ``text``, refusing a key that appears twice in one object (``json.loads`` silently keeps
    the last); ``source`` names the text in the one-line :class:`StnlabError` of a mistake."""
    try:
        return json.loads(text, object_pairs_hook=_refuse_duplicates(source))
    except json.JSONDecodeError as err:
        raise StnlabError(f"{source} is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None


def read_json(path: str | Path) -> Any:
    """Read and :func:`parse_json` the file ``path``; a missing or unreadable file is a one-line error."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise StnlabError(f"cannot read {path} ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise StnlabError(f"{path} is not a UTF-8 text file; pass a JSON file") from None
    return parse_json(text, str(path))


__all__ = [
    "atomic_path",
    "atomic_write",
    "check_creatable",
    "check_name_lengths",
    "clean_stale_parts",
    "ensure_dir",
    "parse_json",
    "pid_alive",
    "read_json",
    "write_bytes",
    "write_json",
    "write_text",
]
