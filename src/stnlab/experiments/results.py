"""Committed results: the small files of every finished run, and tables generated from them.

Layout of a results folder (``results/`` in the repository)::

    results/runs/<table>/<budget>/<dataset>/<model>/seed<k>/{config.json, metrics.jsonl, eval.json, cell.json}
    results/<table>.json     # per cell: row, column, paper, per-seed errors, mean, std, budget, ...
    results/<table>.md       # the markdown table (mean +- std over seeds) and its compensation reports
    results/<report>.json    # the table's compensation reports (``stnlab canonical``; its ``reports``)

The tables are generated from ``runs/`` (:func:`write_table_results`), so a table can never disagree with the
run files it claims to come from; the reports are measured on checkpoints and formatted by
:func:`stnlab.experiments.report.format_report_markdown`. Checkpoints are never copied.
"""

from __future__ import annotations

import json
import shutil
import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stnlab.errors import StnlabError
from stnlab.experiments.report import format_report_markdown, read_report
from stnlab.experiments.st_course import format_st_course
from stnlab.experiments.tables import PaperTable, budget_rank
from stnlab.io import write_json, write_text
from stnlab.train import keys_with

SMALL_FILES = ("config.json", "metrics.jsonl", "eval.json", "cell.json")


def run_relpath(table: str, budget_key: str, cell_key: str, seed: int) -> str:
    """``<table>/<budget>/<cell key>/seed<k>``: a run's folder under any runs root, under ``results/runs/``,
    and its name in committed files (:func:`run_label`): the one place this layout is spelled."""
    return f"{table}/{budget_key}/{cell_key}/seed{seed}"


def result_dir(results: str | Path, table: PaperTable, budget_key: str, cell_key: str, seed: int) -> Path:
    """``<results>/runs/<table>/<budget>/<cell key>/seed<k>``."""
    return Path(results) / "runs" / run_relpath(table.name, budget_key, cell_key, seed)


def run_label(folder: str | Path, runs: str | Path | None) -> str:
    """How a committed file names a run folder: relative to the runs root ``runs`` when inside it
    (``mnist-rst/paper/mnist-rot/STN-SL1/seed0``: the same on every machine), else as given."""
    folder = Path(folder)
    if runs is not None:
        try:
            return folder.resolve().relative_to(Path(runs).resolve()).as_posix()
        except ValueError:
            pass
    return str(folder)


def export_run(run_folder: Path, target: Path, runs: str | Path | None = None) -> None:
    """Copy the small files of a finished run (never checkpoints) into ``target``; the copied ``eval.json``
    names its run relative to the runs root ``runs`` (:func:`run_label`), not by this machine's path."""
    target.mkdir(parents=True, exist_ok=True)
    for name in SMALL_FILES:
        if not (run_folder / name).is_file():
            continue
        if name == "eval.json" and "run" in (ev := _read_json(run_folder / name)):
            write_json(target / name, {**ev, "run": run_label(ev["run"], runs)})
        else:
            shutil.copyfile(run_folder / name, target / name)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise StnlabError(f"{path} is unreadable ({err}); delete that run folder and run it again") from None


def _seed_records(folder: Path) -> list[dict[str, Any]]:
    """One record per ``seed<k>`` folder under a cell's budget folder that has a test result."""
    records = []
    for seed_dir in sorted(folder.glob("seed*"), key=lambda p: int(p.name[4:]) if p.name[4:].isdigit() else -1):
        if not (seed_dir / "eval.json").is_file():
            continue
        ev = _read_json(seed_dir / "eval.json")
        cfg = _read_json(seed_dir / "config.json")
        meta = _read_json(seed_dir / "cell.json") if (seed_dir / "cell.json").is_file() else {}
        metrics = [json.loads(line) for line in (seed_dir / "metrics.jsonl").read_text().splitlines() if line]
        records.append({"seed": cfg["seed"], "error": ev["error"], "pass_std": ev.get("error_std", 0.0),
                        "passes": ev.get("passes", 1), "epochs": metrics[-1]["epoch"] if metrics else None,
                        "wall_seconds": metrics[-1]["wall_time"] if metrics else None,
                        "commit": meta.get("commit", "unknown"), "config": cfg})
    return records


_NOT_RECIPE = frozenset(keys_with("cell", "host"))  # the keys that name the cell or the machine


def _recipe(config: Mapping[str, Any]) -> dict[str, Any]:
    """The training recipe of a run: its config without the keys that name the cell or the machine (the
    ``cell`` and ``host`` roles of :class:`~stnlab.train.RunConfig`'s fields)."""
    return {k: v for k, v in config.items() if k not in _NOT_RECIPE}


def aggregate(table: PaperTable, results: str | Path) -> list[dict[str, Any]]:
    """Per cell and budget with finished seeds: the summary record (errors in %, std over seeds)."""
    cells = []
    base = Path(results) / "runs" / table.name
    budget_dirs = sorted(base.iterdir(), key=lambda p: budget_rank(p.name)) \
        if base.is_dir() else []
    for cell in table.cells:
        for budget_dir in budget_dirs:
            records = _seed_records(budget_dir / cell.key)
            if not records:
                continue
            errors = [100 * r["error"] for r in records]
            cells.append({
                "row": cell.row, "column": cell.column, "model": cell.model, "dataset": cell.dataset,
                "paper": cell.paper, "budget": budget_dir.name, "seeds": [r["seed"] for r in records],
                "errors": errors, "mean": statistics.fmean(errors),
                "std": statistics.stdev(errors) if len(errors) > 1 else None,
                "pass_std": [100 * r["pass_std"] for r in records], "passes": records[0]["passes"],
                "epochs": records[0]["epochs"], "recipe": _recipe(records[0]["config"]),
                "wall_seconds": [r["wall_seconds"] for r in records], "commit": [r["commit"] for r in records],
            })
    return cells


def best_entry(entries: list[dict[str, Any]], row: str, column: str) -> dict[str, Any] | None:
    """The entry of (row, column) at the highest budget (paper > cpu > others), if any."""
    found = [e for e in entries if e["row"] == row and e["column"] == column]
    return min(found, key=lambda e: budget_rank(e["budget"]), default=None)


def common_entries(entries: list[dict[str, Any]], rows: tuple[str, ...], column: str
                   ) -> dict[str, dict[str, Any]] | None:
    """The entries of ``rows`` in ``column`` at the highest budget that every row has (None: no such budget).

    A comparison between networks is only fair at one budget: a 50-epoch network against a 10-epoch one
    measures the budget, not the architecture.
    """
    for budget in budgets_by_rank(entries):
        got = {r: entry_at(entries, r, column, budget) for r in rows}
        if all(e is not None for e in got.values()):
            return got  # type: ignore[return-value]
    return None


def budgets_by_rank(entries: list[dict[str, Any]]) -> list[str]:
    """The budgets of ``entries``, highest first (paper, cpu, smoke, then any other)."""
    return sorted({e["budget"] for e in entries}, key=budget_rank)


def entry_at(entries: list[dict[str, Any]], row: str, column: str, budget: str) -> dict[str, Any] | None:
    """The entry of (row, column) at exactly ``budget``, if any."""
    return next((e for e in entries if e["row"] == row and e["column"] == column and e["budget"] == budget), None)


def format_results_markdown(table: PaperTable, entries: list[dict[str, Any]]) -> str:
    """The table from committed results: ``mean ± std / paper``, marked where not at the paper budget."""
    cols = list(table.columns)
    lines = [f"**{table.title}** — {table.source}. Ours: test error (%), mean ± std over seeds "
             f"(n = number of seeds); paper: the published number. Command: `stnlab reproduce {table.name}`", "",
             f"| {table.row_label} | " + " | ".join(f"{c} (ours / paper)" for c in cols) + " |",
             "|" + " --- |" * (len(cols) + 1)]
    marks: dict[str, str] = {}
    for row in table.rows:
        parts = []
        for col in cols:
            cell, e = table.cell(row, col), best_entry(entries, row, col)
            if cell is None:
                parts.append("")
                continue
            paper = "—" if cell.paper is None else f"{cell.paper:.2f}"
            if e is None:
                parts.append(f"— / {paper}")
                continue
            std = f" ± {e['std']:.2f}" if e["std"] is not None else ""
            ours = f"{e['mean']:.2f}{std} (n={len(e['errors'])})"
            if e["budget"] != "paper":
                mark = marks.setdefault(e["budget"], "†" * (len(marks) + 1))
                ours += mark
            parts.append(f"{ours} / {paper}")
        lines.append(f"| {row} | " + " | ".join(parts) + " |")
    for budget, mark in marks.items():
        epochs = sorted({e["epochs"] for e in entries if e["budget"] == budget and e["epochs"] is not None})
        lines.append(f"\n{mark} not at the paper budget: `{budget}` budget ({', '.join(f'{x:g}' for x in epochs)} "
                     "epochs); see the table config's docstring.")
    wall = wall_times(table, entries)
    if wall:
        lines.append(f"\nTraining wall time per run of the cells above (mean over seeds; `wall_seconds` in "
                     f"`results/{table.name}.json`, on the machine that trained each run): {wall}.")
    return "\n".join(lines)


def wall_times(table: PaperTable, entries: list[dict[str, Any]]) -> str:
    """``R: CNN 12 min, STN-C0 16 min, ...; S: ...``: the training time of each shown entry (its mean over
    seeds), from the runs' metrics (the only place runtimes are written)."""
    parts = []
    for col in table.columns:
        times = []
        for row in table.rows:
            e = best_entry(entries, row, col)
            seconds = [w for w in (e or {}).get("wall_seconds", []) if w is not None]
            if seconds:
                times.append(f"{row} {_duration(statistics.fmean(seconds))}")
        if times:
            parts.append((f"{col}: " if len(table.columns) > 1 else "") + ", ".join(times))
    return "; ".join(parts)


def _duration(seconds: float) -> str:
    """``12 min`` or, from 100 minutes on, ``2.6 h``."""
    return f"{seconds / 60:.0f} min" if seconds < 6000 else f"{seconds / 3600:.1f} h"


def write_table_results(table: PaperTable, results: str | Path) -> dict[str, Any]:
    """Regenerate ``<results>/<table>.json`` and ``.md`` from ``<results>/runs`` (the .md with the table's
    compensation reports under it); return the JSON data."""
    entries = aggregate(table, results)
    data = {"table": table.name, "title": table.title, "source": table.source,
            "note": "errors in %; std over seeds; pass_std: spread over the transformed test passes of each seed",
            "cells": entries}
    Path(results).mkdir(parents=True, exist_ok=True)
    write_json(Path(results) / f"{table.name}.json", data)
    md = "\n\n".join(table_sections(table, entries, results))
    write_text(Path(results) / f"{table.name}.md", md + "\n")
    return data


def table_sections(table: PaperTable, entries: list[dict[str, Any]], results: str | Path) -> list[str]:
    """The markdown of ``table``: the results table, its course of training (where the table asks for it) and
    its compensation reports."""
    course = None
    if table.course:
        shown = {r: e for r in table.rows for c in table.columns if (e := best_entry(entries, r, c)) is not None}
        course = format_st_course(table, shown, results)
    return [format_results_markdown(table, entries), *([course] if course else []), *reports_markdown(table, results)]


def reports_markdown(table: PaperTable, results: str | Path) -> list[str]:
    """The table's compensation reports that exist under ``results``, each as a markdown table."""
    paths = [Path(results) / name for name in table.reports.values()]
    return [format_report_markdown(read_report(p)) for p in paths if p.is_file()]


README_BEGIN = "<!-- results:begin (generated by `stnlab tables --write-readme README.md`; do not edit) -->"
README_END = "<!-- results:end -->"


def readme_block(tables: Mapping[str, PaperTable], results: str | Path) -> str:
    """The README's results section: every table that has committed results, from ``results``."""
    parts = []
    for _, t in sorted(tables.items()):
        entries = aggregate(t, results)
        if not entries:
            continue
        parts += table_sections(t, entries, results)
    body = "\n\n".join(parts) if parts else "No committed results yet."
    return f"{README_BEGIN}\n{body}\n{README_END}"


def update_readme(readme: str | Path, tables: Mapping[str, PaperTable], results: str | Path) -> bool:
    """Replace the generated block of ``readme``; True when the file changed."""
    path = Path(readme)
    text = path.read_text()
    if README_BEGIN not in text or README_END not in text:
        raise StnlabError(f"{path} has no generated results block; add the two lines {README_BEGIN!r} and "
                          f"{README_END!r} where the tables go")
    head, rest = text.split(README_BEGIN, 1)
    tail = rest.split(README_END, 1)[1]
    new = head + readme_block(tables, results) + tail
    if new != text:
        write_text(path, new)
    return new != text
