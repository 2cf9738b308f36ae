"""The course of training under a results table: epoch-end records, the epochs shown, the rotation spread."""

from __future__ import annotations

import json

from stnlab.experiments.results import table_sections
from stnlab.experiments.st_course import epoch_records, format_st_course, shown_epochs
from stnlab.experiments.tables import get_table


def _metrics(path, epochs: int, spread: float | None, steps_per_epoch: int = 4) -> None:
    """A metrics.jsonl with a mid-epoch record and an epoch-end record per epoch (error falling, spread fixed)."""
    path.mkdir(parents=True)
    lines = []
    for e in range(1, epochs + 1):
        for step in (steps_per_epoch * e - 2, steps_per_epoch * e):
            rec = {"epoch": step / steps_per_epoch, "step": step, "val_error": 0.9 - 0.05 * step / steps_per_epoch}
            if spread is not None:
                rec["st"] = [{"index": 0, "angle_deg": {"mean": 1.0, "std": spread * e}}]
            lines.append(json.dumps(rec))
    (path / "metrics.jsonl").write_text("\n".join(lines) + "\n")


def test_epoch_ends_and_the_first_middle_and_last_are_picked(tmp_path):
    _metrics(tmp_path / "run", 10, 2.0)
    records = epoch_records(tmp_path / "run" / "metrics.jsonl")
    assert [r["epoch"] for r in records] == [float(e) for e in range(1, 11)]  # mid-epoch records left out
    assert [r["epoch"] for r in shown_epochs(records)] == [1.0, 5.0, 10.0]
    assert [r["epoch"] for r in shown_epochs(records[:2])] == [1.0, 2.0]
    assert shown_epochs([]) == []


def test_the_course_table_reads_each_shown_entrys_first_seed(tmp_path):
    table = get_table("plankton")
    base = tmp_path / "runs" / "plankton"
    _metrics(base / "medium" / "plankton" / "STN-C2" / "seed1", 10, 1.5)
    _metrics(base / "cpu" / "plankton" / "CNN" / "seed0", 2, None)
    shown = {"STN-C2": {"column": "error", "budget": "medium", "seeds": [1, 2]},
             "CNN": {"column": "error", "budget": "cpu", "seeds": [0]},
             "STN-SL2": {"column": "error", "budget": "medium", "seeds": [0]}}  # no metrics: left out
    text = format_st_course(table, shown, tmp_path)
    assert "| STN-C2 | medium, 1 | 1 / 5 / 10 | 85.0 / 65.0 / 40.0 | 1.5 / 7.5 / 15.0 |" in text
    assert "| CNN | cpu, 0 | 1 / 2 | 85.0 / 80.0 | — (no ST) |" in text
    assert "STN-SL2" not in text
    assert format_st_course(table, {"STN-SL2": shown["STN-SL2"]}, tmp_path) is None


def test_only_a_table_that_asks_for_it_shows_its_course(tmp_path):
    entry = {"row": "STN-C2", "column": "error", "budget": "medium", "seeds": [0], "errors": [40.0], "mean": 40.0,
             "std": None, "epochs": 10, "wall_seconds": []}
    _metrics(tmp_path / "runs" / "plankton" / "medium" / "plankton" / "STN-C2" / "seed0", 3, 4.0)
    assert get_table("plankton").course and not get_table("mnist-rst").course
    sections = table_sections(get_table("plankton"), [entry], tmp_path)
    assert len(sections) == 2 and "| STN-C2 | medium, 0 | 1 / 2 / 3 |" in sections[1]
