"""Stopping a training run cleanly on Ctrl-C (SIGINT) or SIGTERM, and the messages of a stopped run.

:class:`StopSignals` turns the first SIGINT/SIGTERM into a request: the step in progress finishes, the loop
writes ``last.pt`` and raises :class:`~stnlab.errors.Interrupted` (exit status 130 / 143 from the CLI),
saying how to resume. A second signal stops at once (``KeyboardInterrupt``), as without the handler.
Only the main thread of a single process installs it: a distributed run (torchrun) keeps the default
handling, whose ranks could otherwise stop at different steps.
"""

from __future__ import annotations

import errno
import shlex
import signal
import threading
from pathlib import Path
from types import FrameType, TracebackType

from stnlab.errors import Interrupted, StnlabError

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Context manager: while active, SIGINT/SIGTERM set :attr:`signum` instead of stopping the process."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:  # the second one: stop now
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> StopSignals:
        if self.enabled:
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()


def resume_command(out: Path) -> str:
    """The exact command that resumes the run folder ``out``."""
    return f"stnlab train --resume --out {shlex.quote(str(out))}"


def interrupted(signum: int, out: Path, step: int, total: int) -> Interrupted:
    """The :class:`Interrupted` of a run stopped by ``signum`` after writing ``last.pt`` at ``step``."""
    name = signal.Signals(signum).name
    return Interrupted(f"stopped by {name} at step {step} of {total}; wrote {out / 'last.pt'}; resume with: "
                       f"{resume_command(out)}", 128 + signum)


def disk_full(out: Path, saved_step: int | None, err: OSError) -> StnlabError:
    """The one-line error of a write that failed for lack of space (or quota), naming the intact checkpoint."""
    why = "disk full" if err.errno == errno.ENOSPC else "disk quota exceeded"
    where = f" while writing in {out}"
    kept = (f"the last checkpoint, {out / 'last.pt'} at step {saved_step}, is intact" if saved_step is not None
            else "no checkpoint had been written yet")
    return StnlabError(f"{why}{where}; {kept}; free space, then resume with: {resume_command(out)}"
                       if saved_step is not None else f"{why}{where}; {kept}; free space and train again")


__all__ = ["StopSignals", "disk_full", "interrupted", "resume_command"]
