"""Checkpoints and run folders: atomic writes, ``weights_only`` loading, RNG state capture.

A checkpoint is a plain dict of state dicts, tensors and python scalars/lists, so
``torch.load(path, weights_only=True)`` reads it: ``format``, ``model_name``, ``dataset``, ``config``
(a dict), ``model`` / ``optimizer`` (state dicts), ``step``, ``rng`` (one ``uint8`` torch CPU RNG state per
rank, plus CUDA states), ``running`` (partial sums of the epoch in progress), ``history`` (every
metrics record so far) and ``best`` (best validation error and its step).

A process that trains a run folder holds an exclusive lock on its ``.lock`` file (:func:`run_folder_lock`;
POSIX ``flock``, released by the kernel however the process ends; a killed process leaves the file, which
blocks nothing), so a second one cannot write the same checkpoints and metrics at the same time.
"""

from __future__ import annotations

import io as bytes_io
import os
import pickle
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from stnlab import io
from stnlab.errors import StnlabError
from stnlab.train.interrupt import resume_command

try:
    import fcntl
except ImportError:  # Windows: no run-folder lock
    fcntl = None  # type: ignore[assignment]

FORMAT = "stnlab-checkpoint-v1"
# and st_grid_epoch*.png
RUN_FILES = ("config.json", "metrics.jsonl", "last.pt", "best.pt", "eval.json", "tb", "recipe_changes.json")
LOCK_FILE = ".lock"  # held by the process training the folder (its pid inside); removed when it is done


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """``torch.save`` ``state`` (tagged with the format) to ``path`` atomically. Serialised in memory first, so
    a failed write (a full disk) is a plain ``OSError`` with its errno, and the old file stays intact."""
    buffer = bytes_io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    io.write_bytes(path, buffer.getbuffer())


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; StnlabError naming the file when it is missing/corrupt."""
    if not path.is_file():
        raise StnlabError(f"checkpoint {path} not found; train the run first (stnlab train) or pick --checkpoint last")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, bad pickle, foreign file: all user-facing
        if isinstance(err, pickle.UnpicklingError) and "Weights only load failed" in str(err):
            raise StnlabError(f"checkpoint {path} holds code or objects that are not allowed in a checkpoint (only "
                              f"tensors and plain data are); it was not loaded: use a checkpoint written by "
                              f"stnlab train") from None
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise StnlabError(f"checkpoint {path} is truncated or corrupt ({reason}); delete it and resume from "
                          f"another checkpoint or retrain") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise StnlabError(f"{path} is not an stnlab checkpoint (format {FORMAT}); pass a file written by stnlab train")
    return state


def check_model_matches(state: dict[str, Any], path: Path, model_name: str, dataset: str) -> None:
    """StnlabError when the checkpoint holds another model (or data set) than the run expects."""
    got = (state.get("model_name"), state.get("dataset"))
    if got != (model_name, dataset):
        raise StnlabError(f"checkpoint {path} holds model {got[0]!r} on {got[1]!r}, but the run expects "
                          f"{model_name!r} on {dataset!r}; use that run's own checkpoint")


def load_model_state(model: torch.nn.Module, state: dict[str, Any], path: Path) -> None:
    """``model.load_state_dict(state['model'])`` with a one-line StnlabError on a mismatch."""
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as err:
        first = str(err).splitlines()[0][:160]
        raise StnlabError(f"checkpoint {path} does not fit this model ({first}); it was made with another "
                          f"model configuration (family/iterations/loc_net)") from None


def rng_state() -> dict[str, Any]:
    """This process's torch RNG states as ``uint8`` tensors (CPU, and every CUDA device)."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {"cpu": torch.get_rng_state(), "cuda": list(cuda)}


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["cpu"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def is_run_folder(path: Path) -> bool:
    """True when ``path`` holds a ``config.json`` (a folder written by stnlab train)."""
    return (path / "config.json").is_file()


def prepare_run_folder(out: Path, *, force: bool, resume: bool) -> None:
    """Check the run folder ``out`` (no writes): existing runs need ``--force`` or ``--resume``."""
    if resume:
        if not is_run_folder(out):
            raise StnlabError(f"cannot resume: {out} is not a run folder (no config.json); start it without --resume")
        if not (out / "last.pt").is_file():
            raise StnlabError(f"cannot resume {out}: no last.pt checkpoint yet; restart it with --force")
        return
    if out.exists() and not out.is_dir():
        raise StnlabError(f"run folder {out} is a file; pick another --out")
    io.check_creatable(out, "--out")
    if out.is_dir() and any(p.name != LOCK_FILE for p in out.iterdir()):
        if not force:
            raise StnlabError(f"run folder {out} already exists; continue it with: {resume_command(out)} (or add "
                              f"--force to this command to overwrite it, or pick another --out)")
        if not is_run_folder(out):
            raise StnlabError(f"{out} is not empty and not a run folder; --force only overwrites run folders, "
                              f"pick another --out")


class RunFolderBusy(StnlabError):
    """Another live process holds the run folder's lock (it is training it now)."""


@contextmanager
def run_folder_lock(out: Path, enabled: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on ``out/.lock`` (creating ``out``; removed again if nothing was written) for the
    body: one process trains a run folder at a time; a second one fails at once, naming the holder's pid.
    ``enabled`` False (the other ranks of a distributed run, whose rank 0 holds it) or a platform without
    ``fcntl``: no lock."""
    if not enabled or fcntl is None:
        yield
        return
    created = [d for d in (out, *out.parents) if not d.exists()]  # deepest first
    path = out / LOCK_FILE
    try:
        out.mkdir(parents=True, exist_ok=True)
        f = open(path, "a+")  # noqa: SIM115 (closed by the with below)
    except OSError as err:
        raise StnlabError(f"cannot write in run folder {out} ({err.strerror or err}); to resume it, copy it to a "
                          f"writable place and resume the copy: cp -r {out} COPY && stnlab train --resume --out "
                          f"COPY") from None
    with f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(f.fileno()).st_ino != os.stat(path).st_ino:  # its holder removed it as we opened it
                raise BlockingIOError
        except OSError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            raise RunFolderBusy(f"run folder {out} is being trained by another process (pid {holder}); wait for it "
                              f"to finish or stop it, or train into another --out") from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        try:
            yield
        finally:
            path.unlink(missing_ok=True)  # still locked: a process that opened it meanwhile sees the inode change
            for folder in created:  # a run rejected before it wrote anything leaves no folder behind
                if any(folder.iterdir()):
                    break
                folder.rmdir()
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def lock_holder(out: Path) -> int | None:
    """The pid of the process training ``out`` now (holding its lock), else None. Reads only (taking the lock,
    even briefly, could make a trainer starting at that moment fail): on Linux ``/proc/locks`` must list a
    ``flock`` of that pid on this ``.lock`` file; elsewhere the pid written in it must be alive (a killed
    process's stale file names a dead pid, or, rarely, a reused one)."""
    path = out / LOCK_FILE
    try:
        pid, inode = int(path.read_text().strip()), path.stat().st_ino
    except (OSError, ValueError):
        return None
    table = Path("/proc/locks")
    if table.is_file():  # "1: FLOCK  ADVISORY  WRITE <pid> <major>:<minor>:<inode> 0 EOF"
        rows = (line.split() for line in table.read_text().splitlines())
        held = any(len(f) > 5 and f[1] == "FLOCK" and f[4] == str(pid) and f[5].rsplit(":", 1)[-1] == str(inode)
                   for f in rows)
        return pid if held else None
    return pid if io.pid_alive(pid) else None


def clear_run_folder(out: Path) -> None:
    """Delete the files stnlab writes into a run folder (used by ``--force``) and make sure it exists."""
    for target in [out / name for name in RUN_FILES] + sorted(out.glob("st_grid_epoch*.png")):
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    out.mkdir(parents=True, exist_ok=True)


__all__ = [
    "FORMAT",
    "RunFolderBusy",
    "check_model_matches",
    "clear_run_folder",
    "load_checkpoint",
    "load_model_state",
    "prepare_run_folder",
    "rng_state",
    "save_checkpoint",
    "set_rng_state",
]
