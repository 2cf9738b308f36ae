"""Jobs for the worker-process tests (module-level, so that a spawned process can import them)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from stnlab.errors import StnlabError
from stnlab.train.interrupt import StopSignals


def job(spec: tuple[str, object]) -> object:
    """``("fail", seconds)``: raise after a delay; ``("train", path)``: act as a training run (SIGTERM = save
    and stop): write ``path`` on the request; ``("sleep", path)``: write the pid to ``path``, sleep;
    ``("cores", None)``: the cores this process may use; ``("value", x)``: ``x``."""
    what, arg = spec
    if what == "fail":
        time.sleep(float(arg))
        raise StnlabError("this job fails on purpose")
    if what == "train":
        with StopSignals() as stop:
            Path(f"{arg}.started").write_text("1")
            deadline = time.monotonic() + 60
            while stop.signum is None and time.monotonic() < deadline:
                time.sleep(0.02)
        Path(str(arg)).write_text(f"saved after signal {stop.signum}")
        raise StnlabError("stopped by a signal")
    if what == "sleep":
        Path(str(arg)).write_text(str(os.getpid()))
        time.sleep(120)
    if what == "cores":
        return sorted(os.sched_getaffinity(0))
    return arg
