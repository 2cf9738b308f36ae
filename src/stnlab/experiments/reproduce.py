"""Run the cells of a paper table (train + eval each missing seed) and keep their results in ``results/``."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stnlab.errors import StnlabError
from stnlab.experiments.results import export_run, result_dir, run_relpath, write_table_results
from stnlab.experiments.tables import Cell, PaperTable
from stnlab.experiments.workers import run_in_processes
from stnlab.io import write_json
from stnlab.options import options_of
from stnlab.train import RunConfig, build_config, evaluate_run, keys_with, read_config_file, train
from stnlab.train.checkpoint import RunFolderBusy, lock_holder
from stnlab.train.distributed import cpu_count

# config keys that do not change what a run computes (the ``host`` role: where and how fast it ran): a kept run
# may differ in them
HOST_KEYS = frozenset(keys_with("host"))


def budget_key(budget: str, sets: Mapping[str, Any] = ()) -> str:
    """The folder name of a budget: its name, plus ``+key=value`` for every ``--set`` override that changes
    what a run computes (host keys such as ``threads`` or ``ckpt_every`` do not name a new budget)."""
    return budget + "".join(f"+{k}={v}" for k, v in sorted(dict(sets).items()) if k not in HOST_KEYS)


def run_dir(table: PaperTable, cell: Cell, runs: str | Path, budget: str = "paper", seed: int = 0) -> Path:
    """The run folder of one seed of ``cell``: ``<runs>/<table>/<budget>/<dataset>/<model>/seed<k>``."""
    return Path(runs) / run_relpath(table.name, budget, cell.key, seed)


def _cell_names(cell: Cell) -> set[str]:
    """What ``--cell`` may call a cell: its key with or without the ``+k=v`` overrides, model, row, column."""
    return {cell.key, f"{cell.dataset}/{cell.model}", cell.model, cell.row, cell.column}


def select_cells(table: PaperTable, only: Iterable[str] = ()) -> list[Cell]:
    """The cells named by any of ``only`` (all cells when empty); a name that matches no cell is an error.

    A name is a cell's key (``mnist-trans/STN-C1+grad_clip=1.0``, or without its overrides:
    ``mnist-trans/STN-C1``), model, row or column.
    Cells come in the order of ``only`` (the order they are trained in), each once; else in the table's order.
    """
    only = list(only)
    if not only:
        return list(table.cells)
    unknown = [name for name in only if not any(name in _cell_names(c) for c in table.cells)]
    if unknown:
        valid = ", ".join(c.key for c in table.cells)
        raise StnlabError(f"--cell {' '.join(unknown)} matches no cell of {table.name!r}; valid: {valid}")
    ordered = {c.key: c for name in only for c in table.cells if name in _cell_names(c)}  # first mention wins
    return list(ordered.values())


def read_result(folder: Path) -> dict[str, Any] | None:
    """The ``eval.json`` of a run folder on the test split, or None if there is none yet (or only one of an
    unfinished run, ``final`` False)."""
    path = folder / "eval.json"
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise StnlabError(f"{path} is unreadable ({err}); delete it and run `stnlab eval {folder}`") from None
    if not isinstance(result, dict) or "error" not in result:
        raise StnlabError(f"{path} is not an eval result; delete it and run `stnlab eval {folder}`")
    return result if result.get("split") == "test" and result.get("final", True) else None


def finished_run(folder: Path) -> bool:
    """True when ``folder`` holds the checkpoint of a run whose training finished (its final test ``eval.json``):
    what the compensation reports measure, never a run still training or interrupted."""
    return (folder / "best.pt").is_file() and read_result(folder) is not None


def unfinished_hint(folder: Path, what: str, command: str) -> str:
    """The one-line error for a run ``what`` that is missing or not finished in ``folder``."""
    if (folder / "best.pt").is_file():
        return (f"the {what} run in {folder} has not finished (no final test eval.json: still training, or "
                f"interrupted); let `{command}` finish it first")
    return f"no trained {what} run in {folder}; run `{command}` first"


def check_same_recipe(folder: Path, cfg: RunConfig) -> None:
    """StnlabError if the run in ``folder`` was started with another config than ``cfg`` (a changed recipe or
    budget would otherwise keep, or resume, a stale run), host keys (:data:`HOST_KEYS`) aside."""
    path = folder / "config.json"
    if not path.is_file() or not ((folder / "last.pt").is_file() or (folder / "eval.json").is_file()):
        return  # nothing that would be kept or resumed
    saved = build_config(read_config_file(path)).to_dict()  # keys added since get their defaults
    diff = [f"{k}: {saved[k]!r} there, {v!r} now" for k, v in cfg.to_dict().items()
            if k not in HOST_KEYS and saved[k] != v]
    if diff:
        raise StnlabError(f"run folder {folder} was trained with another recipe ({'; '.join(diff[:3])}); "
                          f"move it away or pass another --runs folder")


def code_version() -> str:
    """The stnlab git commit (``+dirty`` with uncommitted changes), or ``unknown`` outside a checkout."""
    src = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=src, capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=src.parent, capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def _train_and_eval(folder: Path, cfg: Any, passes: int | None, eval_samples: int, meta: dict[str, Any],
                    progress: bool, root: str | Path | None, cache_dir: str | Path | None) -> dict[str, Any] | None:
    """Train (or resume, or restart) one run folder, then evaluate it on the test split. None (skipped, said)
    when another process is training it now; its result when another process finished it meanwhile."""
    done = read_result(folder)
    if done is not None:
        return done
    holder = lock_holder(folder)
    if holder is not None:  # checked before anything reads the folder; the lock itself settles a race
        print(f"skipping: run folder {folder} is being trained by another process (pid {holder})", flush=True)
        return None
    meta = {**meta, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}  # when this run (not the command) started
    resume = (folder / "last.pt").is_file()
    # a folder with a config but no checkpoint is a run that died before its first save: start it again
    restart = not resume and (folder / "config.json").is_file()
    if progress:
        print(f"{'resuming' if resume else 'training'} {cfg.model} on {cfg.dataset}, seed {cfg.seed} in {folder}",
              flush=True)
    # on resume the saved config is kept; cfg can only change host keys (check_same_recipe), e.g. ckpt_every
    try:
        train(cfg, folder, resume=resume, force=restart, progress=progress, root=root, cache_dir=cache_dir)
    except RunFolderBusy as busy:  # two `reproduce` commands share a queue: the other one trains this run
        print(f"skipping: {busy}", flush=True)
        return None
    if not (folder / "cell.json").is_file():
        write_json(folder / "cell.json", meta)
    return evaluate_run(folder, split="test", passes=passes, max_samples=eval_samples, root=root,
                        cache_dir=cache_dir)


def _train_unit(unit: tuple) -> dict[str, Any] | None:
    """Worker job: :func:`_train_and_eval` of one argument tuple."""
    return _train_and_eval(*unit)


def _run_units(units: list[tuple], jobs: int) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """Train ``units`` (``_train_and_eval`` argument tuples): in this process, or ``jobs`` pinned worker
    processes at a time (:func:`~stnlab.experiments.workers.run_in_processes`); yield ``(index, result)`` as
    each finishes. A failure stops every worker (a training run saves first; it resumes from that checkpoint)."""
    if jobs == 1 or len(units) <= 1:
        for i, unit in enumerate(units):
            yield i, _train_and_eval(*unit)
        return
    yield from run_in_processes(_train_unit, units, min(jobs, len(units)))


@dataclass(frozen=True)
class TableRunOptions:
    """Which runs of a table :func:`run_table` trains and how: the ``budget`` (``seeds``: default the budget's);
    the ``results`` folder (None: none written); the ``cells`` (keys or rows; default all, in that order);
    ``sets``, config overrides of every cell; ``collect_only`` trains nothing; ``passes`` of the test
    evaluation (default the budget's); ``progress`` bars; ``jobs`` runs at once; ``root`` / ``cache_dir`` of
    the data."""

    budget: str = "paper"
    seeds: int | None = None
    results: str | Path | None = None
    cells: Iterable[str] = ()
    sets: Mapping[str, Any] = field(default_factory=dict)
    collect_only: bool = False
    passes: int | None = None
    progress: bool = True
    jobs: int = 1
    root: str | Path | None = None
    cache_dir: str | Path | None = None


def _check_counts(o: TableRunOptions, n_seeds: int) -> None:
    for flag, value in (("--passes", o.passes), ("--jobs", o.jobs), ("--seeds", n_seeds)):
        if value is not None and value < 1:
            raise StnlabError(f"{flag} must be >= 1, got {value}")


def run_table(table: PaperTable, runs: str | Path, options: TableRunOptions | None = None,
              **keywords: Any) -> dict[str, list[dict | None]]:
    """Train and evaluate every selected cell x seed without a test result; return ``{cell key: [eval per seed]}``
    (``options`` / ``keywords``: :class:`TableRunOptions`).

    Finished seeds (``eval.json`` on the test split) are kept, interrupted ones resumed, ones that died
    before their first checkpoint restarted. ``sets`` override config keys of every cell (the budget's
    folder name then records them). ``jobs`` > 1 trains that many runs at once, each in its own process
    pinned to 1/jobs of the cores, with as many threads (unless ``sets`` gives ``threads``). With
    ``results``, each finished seed's small files are copied to ``results/runs/...`` and
    ``results/<table>.json``/``.md`` regenerated as cells land; a seed whose test result is already committed
    there (trained on another machine, its run folder gone) counts as finished and is not trained again.
    """
    o = options_of(TableRunOptions, options, keywords, "run_table")
    results, sets, jobs = o.results, dict(o.sets), o.jobs
    bud = table.budget(o.budget)
    n_seeds = o.seeds if o.seeds is not None else bud.seeds
    _check_counts(o, n_seeds)
    key = budget_key(o.budget, sets)
    host = {} if jobs == 1 or "threads" in sets else {"threads": max(1, cpu_count() // jobs)}
    out: dict[str, list[dict | None]] = {}
    todo: list[tuple[Cell, int, Path]] = []
    units: list[tuple] = []

    def land(cell: Cell, seed: int, folder: Path, result: dict[str, Any] | None) -> None:
        out[cell.key][seed] = result
        if result is not None and results is not None:
            export_run(folder, result_dir(results, table, key, cell.key, seed), runs)
            write_table_results(table, results)

    for cell in select_cells(table, o.cells):
        out[cell.key] = [None] * n_seeds
        for seed in range(n_seeds):
            folder = run_dir(table, cell, runs, key, seed)
            # validates --set values up front, also when nothing is trained
            cfg = build_config({"model": cell.model, "dataset": cell.dataset}, table.overrides, cell.overrides,
                               bud.overrides, sets, {"seed": seed}, host)
            check_same_recipe(folder, cfg)
            result = read_result(folder)
            committed = None if results is None else read_result(result_dir(results, table, key, cell.key, seed))
            if result is None and committed is not None:  # landed on another machine: its files are the result
                out[cell.key][seed] = committed
                continue
            if result is None and not o.collect_only:
                meta = {"table": table.name, "cell": cell.key, "budget": key, "seed": seed, "commit": code_version()}
                todo.append((cell, seed, folder))
                units.append((folder, cfg, bud.passes if o.passes is None else o.passes, bud.eval_samples, meta,
                              o.progress, o.root, o.cache_dir))
            else:
                land(cell, seed, folder, result)
    for i, result in _run_units(units, jobs):
        land(*todo[i], result)
    return out
