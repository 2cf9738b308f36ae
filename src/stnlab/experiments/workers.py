"""Run jobs in worker processes: one fresh process per job, at most ``jobs`` at a time, each pinned to its own
slice of the cores, and every running job stopped cleanly when one fails or the caller stops listening.

Why not :class:`multiprocessing.Pool`: its idle workers share the task queue's lock, and a worker that is
training when the pool terminates takes the pool's SIGTERM as "finish the step and save a checkpoint"
(:mod:`stnlab.train.interrupt`), returns, and then waits on that lock for ever, while ``Pool.terminate`` waits
for it (a ``reproduce --jobs 2`` whose other run failed hung that way). Here a job's process ends with its job;
on a failure every running job gets SIGTERM (a training run saves and stops) and SIGKILL only after ``grace``
seconds. Jobs are started with the ``spawn`` method (no forked torch thread pools); on Linux each dies with its
parent, even one killed by SIGKILL (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from stnlab.errors import StnlabError

PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h)
GRACE = 120.0  # seconds a stopped job has to finish its step and save, before SIGKILL
SIGNALLED = 10.0  # after Ctrl-C, seconds the jobs (which got the SIGINT too) have to stop on their own


def die_with_parent() -> None:
    """Linux: ask the kernel to send this process SIGTERM when its parent dies (``PR_SET_PDEATHSIG``), even by
    SIGKILL, so that no orphaned worker keeps training a run folder that a new command resumes."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # no libc prctl: the run-folder lock still refuses a second writer
        pass


def _job(conn: Connection, fn: Callable[[Any], Any], arg: Any, cores: Sequence[int]) -> None:
    """A worker process: die with the parent, pin to ``cores``, run ``fn(arg)``, send ``(ok, value)`` back."""
    die_with_parent()
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)
    try:
        message: tuple[bool, Any] = (True, fn(arg))
    except BaseException as err:  # noqa: BLE001 -- every failure, KeyboardInterrupt too, goes to the caller
        message = (False, err)
    try:
        conn.send(message)
    except Exception as err:  # noqa: BLE001 -- a result or error that does not pickle: say what it was
        conn.send((False, StnlabError(f"a worker's {'result' if message[0] else 'error'} could not be sent back "
                                      f"({err}): {message[1]!r}"[:2000])))
    conn.close()


def run_in_processes(fn: Callable[[Any], Any], args: Sequence[Any], jobs: int,
                     grace: float = GRACE) -> Iterator[tuple[int, Any]]:
    """Yield ``(i, fn(args[i]))`` as each job finishes, running ``jobs`` processes at a time; job ``k`` of a
    slot runs on that slot's ``1/jobs`` of this process's cores. The first job that raises stops the others
    (SIGTERM, then SIGKILL after ``grace`` seconds) and its error is raised here; so does closing the
    iterator early. ``fn`` and ``args`` must pickle (``fn`` a module-level function)."""
    if jobs < 1:
        raise StnlabError(f"jobs must be >= 1, got {jobs}")
    ctx = mp.get_context("spawn")
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    per_slot = max(1, len(cores) // jobs)
    free, pending = list(range(jobs)), list(enumerate(args))[::-1]
    running: dict[Connection, tuple[int, Any, int]] = {}  # reader -> (job index, process, slot)
    try:
        while pending or running:
            while pending and free:
                index, arg = pending.pop()
                slot = free.pop(0)
                reader, writer = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_job, args=(writer, fn, arg, cores[slot * per_slot:(slot + 1) * per_slot]),
                                   daemon=True)
                proc.start()
                writer.close()  # the child holds the only writer: EOF when it dies without a word
                running[reader] = (index, proc, slot)
            for reader in wait(list(running)):
                index, proc, slot = running.pop(reader)
                ok, value = _receive(reader, proc, index)
                free.append(slot)
                if not ok:
                    raise value
                yield index, value
    finally:
        _stop([proc for _, proc, _ in running.values()], grace, sys.exc_info()[0] is KeyboardInterrupt)
        for reader in running:
            reader.close()


def _receive(reader: Connection, proc: Any, index: int) -> tuple[bool, Any]:
    """A finished job's ``(ok, value)``; an error when its process died without sending one."""
    try:
        message = reader.recv()
    except (EOFError, OSError):
        proc.join()
        message = (False, StnlabError(f"the worker process of job {index} died (exit code {proc.exitcode}) "
                                      "before it finished; its run resumes from its last checkpoint"))
    reader.close()
    proc.join()
    return message


def _stop(procs: Sequence[Any], grace: float, signalled: bool) -> None:
    """Stop running jobs: SIGTERM (a training run finishes its step and saves), SIGKILL after ``grace`` seconds.
    ``signalled`` (Ctrl-C, which the jobs got too): give them :data:`SIGNALLED` seconds to stop on their own
    first, since a second signal makes a training run stop without saving."""
    if signalled:
        deadline = time.monotonic() + SIGNALLED
        for proc in procs:
            proc.join(max(0.0, deadline - time.monotonic()))
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    deadline = time.monotonic() + grace
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join()


__all__ = ["GRACE", "die_with_parent", "run_in_processes"]
