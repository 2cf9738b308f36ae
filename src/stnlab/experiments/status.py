"""Where the runs of a paper table stand: finished, in progress (how far, how fast, time left), not started.

``stnlab reproduce TABLE --status`` prints it; nothing is trained or written. The ``ST slope`` column is
the first ST's compensation slope at the last validation (-1 = full compensation, 0 = none; one per varied
parameter, from the ST statistics of :mod:`stnlab.train.diagnostics`; the shifts of an ST on feature maps in
input coordinates), for finished runs too. Progress
comes from each run folder's ``config.json`` and ``metrics.jsonl`` (one record per validation, so it lags
the last checkpoint by at most ``val_every`` steps; before the first record, from ``last.pt``'s step, with
the total and time left unknown); the time left assumes the rest of the run goes at the
pace between the last two records (their ``wall_time``: training and validation), or, with one record, at
its training rate (``img_per_s``; validation not counted); evaluation on the test split is never counted.
A run with no folder under ``runs`` whose result is committed under ``results/runs`` (trained on another
machine) shows as ``committed``, with that result; ``reproduce`` would train it again under ``runs``. A run
in progress shows as ``training`` while a live process holds its run-folder lock
(:func:`stnlab.train.checkpoint.lock_holder`; the pid is in ``RUN/.lock``), else ``stopped`` (it resumes
from its last checkpoint when ``reproduce`` runs again).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stnlab.errors import StnlabError
from stnlab.experiments.reproduce import budget_key, read_result, run_dir, select_cells
from stnlab.experiments.results import result_dir
from stnlab.experiments.tables import PaperTable
from stnlab.train.checkpoint import load_checkpoint, lock_holder
from stnlab.train.history import history_rows


@dataclass(frozen=True)
class RunStatus:
    """One seed of one cell: its state and, while it trains, how far it got."""

    cell: str
    seed: int
    state: str  # "finished", "in progress", "committed" (only under results/runs) or "not started"
    error: float | None = None  # test error (%), when finished or committed
    step: int = 0  # of the last validation record (before the first one: of the last checkpoint)
    total: int | None = None  # the run's steps (None: not known before its first record)
    val_error: float | None = None  # (%) at ``step``
    eta_s: float | None = None  # seconds of training left at the last rate
    age_s: float | None = None  # seconds since the last checkpoint was written
    st_slope: str | None = None  # the first ST's compensation slope(s) at the last validation, e.g. "angle -0.73"
    pid: int | None = None  # in progress: the process training it now (its run-folder lock); None: stopped


def _last_records(folder: Path, n: int = 2) -> list[dict[str, Any]]:
    """The last ``n`` parseable lines of ``metrics.jsonl``, oldest first (a line being written may be cut)."""
    path = folder / "metrics.jsonl"
    if not path.is_file():
        return []
    out: list[dict[str, Any]] = []
    for line in reversed(path.read_text().splitlines()):
        try:
            out.insert(0, json.loads(line))
        except json.JSONDecodeError:
            continue
        if len(out) == n:
            break
    return out


def _last_record(folder: Path) -> dict[str, Any] | None:
    """The last parseable line of ``metrics.jsonl`` (None: none yet)."""
    recs = _last_records(folder, 1)
    return recs[0] if recs else None


def _seconds_per_step(recs: list[dict[str, Any]], batch_size: int) -> float | None:
    """The pace between the last two records (training and validation), else the last record's training rate."""
    if len(recs) == 2 and all("wall_time" in r for r in recs) and recs[1]["step"] > recs[0]["step"]:
        return (recs[1]["wall_time"] - recs[0]["wall_time"]) / (recs[1]["step"] - recs[0]["step"])
    rate = recs[-1].get("img_per_s")
    return batch_size / rate if rate else None


def _st_slope(record: dict[str, Any] | None) -> str | None:
    """``"QUANTITY SLOPE"`` for each fitted parameter of the record's first ST (None: no ST or no fit); an ST
    on feature maps shows its shifts in input coordinates (``input slope``), where -1 is exact centring."""
    rows = history_rows([record]) if record else []
    fits: dict[str, float] = {}
    for k, v in (rows[0] if rows else {}).items():
        if k.startswith("st0 ") and k.endswith(" slope") and (k.endswith(" input slope") or k.split()[1] not in fits):
            fits[k.split()[1]] = v
    return ", ".join(f"{q} {v:+.2f}" for q, v in fits.items()) or None


def _checkpoint_step(path: Path) -> int:
    """The training step a checkpoint was saved at (0 if it cannot be read, e.g. while being replaced)."""
    try:
        return int(load_checkpoint(path)["step"])
    except (StnlabError, KeyError):
        return 0


def _progress(folder: Path, cell: str, seed: int) -> RunStatus:
    """The status of a run folder without a test result."""
    ckpt = folder / "last.pt"
    if not ckpt.is_file():
        return RunStatus(cell, seed, "not started")
    age = max(0.0, time.time() - ckpt.stat().st_mtime)
    recs, cfg = _last_records(folder), json.loads((folder / "config.json").read_text())
    rec = recs[-1] if recs else None
    pid = lock_holder(folder)
    if not rec or not rec.get("epoch"):  # before the first validation: the checkpoint's step, total unknown
        return RunStatus(cell, seed, "in progress", step=_checkpoint_step(ckpt), age_s=age, pid=pid)
    step = int(rec["step"])
    per_epoch = round(step / rec["epoch"])  # training steps per epoch
    total = cfg["steps"] if cfg.get("steps") is not None else cfg["epochs"] * per_epoch
    pace = _seconds_per_step(recs, cfg["batch_size"])
    eta = None if pace is None else (total - step) * pace
    val = rec.get("val_error")
    return RunStatus(cell, seed, "in progress", step=step, total=total,
                     val_error=None if val is None else 100 * val, eta_s=eta, age_s=age, st_slope=_st_slope(rec),
                     pid=pid)


def _done(folder: Path, cell: str, seed: int, state: str) -> RunStatus | None:
    """A ``state`` row for a folder holding a test result (None: no result there)."""
    result = read_result(folder)
    if result is None:
        return None
    return RunStatus(cell, seed, state, error=100 * result["error"], st_slope=_st_slope(_last_record(folder)))


def run_status(table: PaperTable, runs: str | Path, *, budget: str = "paper", seeds: int | None = None,
               cells: Iterable[str] = (), sets: Mapping[str, Any] = (),
               results: str | Path | None = None) -> list[RunStatus]:
    """The status of every selected cell x seed of ``table`` at ``budget`` (``sets`` as for ``run_table``).

    With ``results``, a run not started under ``runs`` but committed under ``results/runs`` is ``committed``.
    """
    n_seeds = seeds if seeds is not None else table.budget(budget).seeds
    key = budget_key(budget, sets)
    out = []
    for cell in select_cells(table, cells):
        for seed in range(n_seeds):
            folder = run_dir(table, cell, runs, key, seed)
            row = _done(folder, cell.key, seed, "finished") or _progress(folder, cell.key, seed)
            if row.state == "not started" and results is not None:
                row = _done(result_dir(results, table, key, cell.key, seed), cell.key, seed, "committed") or row
            out.append(row)
    return out


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"


def format_status(rows: Iterable[RunStatus]) -> str:
    """A plain-text table of run states, one line per run."""
    lines = [f"{'cell':36s} {'seed':>4s}  {'state':11s} {'progress':>13s} {'error %':>12s} {'time left':>9s} "
             f"{'last ckpt':>9s}  ST slope"]
    for r in rows:
        progress = f"{r.step}/{r.total}" if r.total is not None else f"{r.step}/?" if r.step else "-"
        err = r.val_error if r.state == "in progress" else r.error
        err_s = "-" if err is None else f"{err:.2f}" + (" (val)" if r.state == "in progress" else "")
        age = "-" if r.age_s is None else f"{_minutes(r.age_s)} ago"
        state = ("training" if r.pid else "stopped") if r.state == "in progress" else r.state
        lines.append(f"{r.cell:36s} {r.seed:4d}  {state:11s} {progress:>13s} {err_s:>12s} {_minutes(r.eta_s):>9s} "
                     f"{age:>9s}  {r.st_slope or '-'}")
    return "\n".join(lines)
