"""Committed results: the small files of every finished run, and tables generated from them.

Layout of a results folder (``results/`` in the repository)::

    results/runs/<table>/<budget>/<dataset>/<model>/seed<k>/{config.json, metrics.jsonl, eval.json, cell.json}
    results/<table>.json     # per cell: row, column, paper, per-seed errors, mean, std, budget, ...
    results/<table>.md       # the markdown table (mean +- std over seeds)

Everything but ``runs/`` is generated from ``runs/`` (:func:`write_table_results`), so a table can never
disagree with the run files it claims to come from. Checkpoints are never copied.
"""

from __future__ import annotations

import json
import shutil
import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stnlab.errors import StnlabError
from stnlab.experiments.tables import BUDGET_ORDER, PaperTable
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
    budget_dirs = sorted(base.iterdir(), key=lambda p: BUDGET_ORDER.get(p.name.split("+")[0], 9)) \
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
    return min(found, key=lambda e: BUDGET_ORDER.get(e["budget"], 9), default=None)


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
    return sorted({e["budget"] for e in entries}, key=lambda b: BUDGET_ORDER.get(b, 9))


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
    return "\n".join(lines)


def write_table_results(table: PaperTable, results: str | Path) -> dict[str, Any]:
    """Regenerate ``<results>/<table>.json`` and ``.md`` from ``<results>/runs``; return the JSON data."""
    entries = aggregate(table, results)
    path = Path(results) / f"{table.name}.json"
    # sections added by analyses (e.g. the plankton compensation) are kept when the errors are regenerated
    kept = {k: v for k, v in (_read_json(path) if path.is_file() else {}).items() if k in EXTRA_SECTIONS}
    data = {"table": table.name, "title": table.title, "source": table.source,
            "note": "errors in %; std over seeds; pass_std: spread over the transformed test passes of each seed",
            "cells": entries, **kept}
    Path(results).mkdir(parents=True, exist_ok=True)
    write_json(path, data)
    md = format_results_markdown(table, entries)
    if "compensation" in kept:
        md += "\n\n" + format_compensation_markdown(kept["compensation"])
    write_text(Path(results) / f"{table.name}.md", md + "\n")
    return data


EXTRA_SECTIONS = ("compensation",)


def format_compensation_markdown(section: Mapping[str, Any]) -> str:
    """A compensation section (see :mod:`stnlab.experiments.plankton_study`) as a markdown table."""
    lines = [f"**Rotation compensation** ({section['images']} test images rotated by "
             f"{section['angles'][0]:+.0f}..{section['angles'][-1]:+.0f} degrees; -1 = full compensation, "
             "0 = none)", "", "| network | ST acts on | slope | circular corr. | budget |",
             "| --- | --- | --- | --- | --- |"]
    for r in section["models"]:
        lines.append(f"| {r['model']} | {r['acts_on']} | {r['slope']:+.2f} | {r['circ_corr']:+.2f} | {r['budget']} |")
    return "\n".join(lines)


README_BEGIN = "<!-- results:begin (generated by `stnlab tables --write-readme README.md`; do not edit) -->"
README_END = "<!-- results:end -->"


def _seed_stats(data: Mapping[str, Any], model: str, key: str, fmt: str) -> str:
    """``mean ± std (n=k)`` of ``key`` over the measured seeds of ``model`` (one seed: its value)."""
    vals = [r[key] for r in data.get("per_seed", []) if r["model"] == model]
    if len(vals) < 2:
        return "—"
    return f"{statistics.mean(vals):{fmt}} ± {statistics.stdev(vals):{fmt.lstrip('+')}} (n={len(vals)})"


def format_canonical_markdown(data: Mapping[str, Any]) -> str:
    """A canonical-pose report (``results/mnist-compensation*.json``) as a markdown table: the first seed's
    numbers, and the mean ± std over every measured seed."""
    unit, rot = data.get("unit", "deg"), data.get("kind", "rotation") == "rotation"
    what, done, fmt = {"rotation": ("rotated", "angle", ".0f"), "translation": ("shifted", "shift", ".1f")}.get(
        data.get("kind", "rotation"), ("scaled", "log2-scale", ".2f"))
    lines = [f"**Canonical pose** ({data['images']} test digits of {data['column']} {what} over the protocol's "
             f"range; slope of the ST's {done} against the applied one: -1 = full compensation, 0 = none; class "
             "std: spread of the pose the ST brings each class to, against the spread without compensation; "
             "the first columns are one seed's, the last two the mean ± std over the measured seeds)", "",
             f"| network | slope | R^2 | class std ({unit}) | without compensation | budget, seed | slope over seeds "
             f"| class std over seeds ({unit}) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in data["models"]:
        lines.append(f"| {r['model']} | {r['slope']:+.2f} | {r['r2']:.2f} | {r['class_std']:{fmt}} | "
                     f"{r['baseline_std']:{fmt}} | {r['budget']}, {r['seed']} | "
                     f"{_seed_stats(data, r['model'], 'slope', '+.2f')} | "
                     f"{_seed_stats(data, r['model'], 'class_std', '.1f' if rot else fmt)} |")
    return "\n".join(lines)


def readme_block(tables: Mapping[str, PaperTable], results: str | Path) -> str:
    """The README's results section: every table that has committed results, from ``results``."""
    parts = []
    for _, t in sorted(tables.items()):
        entries = aggregate(t, results)
        if not entries:
            continue
        parts.append(format_results_markdown(t, entries))
        path = Path(results) / f"{t.name}.json"
        section = _read_json(path).get("compensation") if path.is_file() else None
        if section:
            parts.append(format_compensation_markdown(section))
        for name in t.reports.values():  # `stnlab canonical`'s reports
            if (Path(results) / name).is_file():
                parts.append(format_canonical_markdown(_read_json(Path(results) / name)))
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
