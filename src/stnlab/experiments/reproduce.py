"""Run the cells of a paper table (train + eval each missing one) and print our numbers beside the paper's."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from stnlab.errors import StnlabError
from stnlab.experiments.tables import Cell, PaperTable


def run_dir(table: PaperTable, cell: Cell, runs: str | Path) -> Path:
    """The run folder of ``cell``: ``<runs>/<table>/<dataset>/<model>[+overrides]``."""
    return Path(runs) / table.name / cell.key


def select_cells(table: PaperTable, only: Iterable[str] = ()) -> list[Cell]:
    """The cells whose key, model, row or column is in ``only`` (all cells when empty)."""
    only = list(only)
    if not only:
        return list(table.cells)
    chosen = [c for c in table.cells if {c.key, c.model, c.row, c.column} & set(only)]
    if not chosen:
        valid = ", ".join(c.key for c in table.cells)
        raise StnlabError(f"--cell {' '.join(only)} matches no cell of {table.name!r}; valid: {valid}")
    return chosen


def read_result(folder: Path) -> dict[str, Any] | None:
    """The ``eval.json`` of a run folder on the test split, or None if there is none yet."""
    path = folder / "eval.json"
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise StnlabError(f"{path} is unreadable ({err}); delete it and run `stnlab eval {folder}`") from None
    if not isinstance(result, dict) or "error" not in result:
        raise StnlabError(f"{path} is not an eval result; delete it and run `stnlab eval {folder}`")
    return result if result.get("split") == "test" else None


def run_table(table: PaperTable, runs: str | Path, *, cells: Iterable[str] = (), sets: Mapping[str, Any] = (),
              collect_only: bool = False, passes: int | None = None, progress: bool = True,
              root: str | Path | None = None, cache_dir: str | Path | None = None) -> dict[str, dict | None]:
    """Train and evaluate every selected cell that has no test result yet; return ``{cell key: eval dict}``.

    A cell whose run folder holds a complete run (``eval.json`` on the test split) is not trained again;
    one with a ``last.pt`` but no result is resumed; one with only a ``config.json`` (it died before its
    first checkpoint) is started again. ``sets`` override config keys of every cell
    (e.g. a shorter budget); the overrides are saved in each run's ``config.json``.
    """
    from stnlab.train import build_config, evaluate_run, train

    if passes is not None and passes < 1:
        raise StnlabError(f"--passes must be >= 1, got {passes}")
    results: dict[str, dict | None] = {}
    for cell in select_cells(table, cells):
        folder = run_dir(table, cell, runs)
        # validates --set values up front, also when nothing is trained
        cfg = build_config({"model": cell.model, "dataset": cell.dataset}, table.overrides, cell.overrides, dict(sets))
        result = read_result(folder)
        if result is None and not collect_only:
            resume = (folder / "last.pt").is_file()
            # a folder with a config but no checkpoint is a run that died before its first save: start it again
            restart = not resume and (folder / "config.json").is_file()
            if progress:
                print(f"[{table.name}] {cell.key}: {'resuming' if resume else 'training'} in {folder}", flush=True)
            train(None if resume else cfg, folder, resume=resume, force=restart, progress=progress, root=root,
                  cache_dir=cache_dir)
            result = evaluate_run(folder, split="test", passes=passes, root=root, cache_dir=cache_dir)
        results[cell.key] = result
    return results


def _fmt(result: dict | None) -> str:
    if result is None:
        return "—"
    text = f"{100 * result['error']:.2f}"
    if result.get("passes", 1) > 1:
        text += f" ± {100 * result['error_std']:.2f}"
    return text


def format_markdown(table: PaperTable, results: Mapping[str, dict | None] | None = None) -> str:
    """A markdown table: each cell as ``ours / paper`` (ours: ``—`` where no run has finished)."""
    results = results or {}
    cols = list(table.columns)
    head = f"| {table.row_label} | " + " | ".join(f"{c} (ours / paper)" for c in cols)
    if table.reference_name:
        head += f" | {table.reference_name} |"
    else:
        head += " |"
    lines = [f"**{table.title}** — {table.source}. Command: `stnlab reproduce {table.name}`", "", head,
             "|" + " --- |" * (len(cols) + 1 + bool(table.reference_name))]
    for row in table.rows:
        parts = []
        ref = None
        for col in cols:
            cell = table.cell(row, col)
            if cell is None:
                parts.append("")
                continue
            paper = "—" if cell.paper is None else f"{cell.paper:.2f}"
            parts.append(f"{_fmt(results.get(cell.key))} / {paper}")
            ref = cell.reference if cell.reference is not None else ref
        line = f"| {row} | " + " | ".join(parts) + " |"
        if table.reference_name:
            line += f" {'—' if ref is None else f'{ref:.1f}'} |"
        lines.append(line)
    return "\n".join(lines)


def collect(table: PaperTable, runs: str | Path) -> dict[str, dict | None]:
    """The finished results under ``runs`` for every cell of ``table`` (nothing is trained)."""
    return {c.key: read_result(run_dir(table, c, runs)) for c in table.cells}
