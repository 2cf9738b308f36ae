"""Committed result files name their runs portably: relative to the runs root (then the run's small files are
under ``results/runs/``) or to the repository (probe runs kept elsewhere under ``results/``), never by the path
of the machine that ran them."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _run_fields(data: Any) -> Iterator[str]:
    """Every value of a ``run`` key, at any depth."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "run" and isinstance(value, str):
                yield value
            else:
                yield from _run_fields(value)
    elif isinstance(data, list):
        for value in data:
            yield from _run_fields(value)


def test_every_committed_run_name_is_relative_and_committed():
    files = sorted((ROOT / "results").rglob("*.json")) + sorted((ROOT / "src").rglob("index.json"))
    names = [(f, run) for f in files for run in _run_fields(json.loads(f.read_text()))]
    assert len(names) > 50
    for f, run in names:
        assert not Path(run).is_absolute(), (f.relative_to(ROOT), run)
        # under results/runs, the repository, or the runs/ of the file's own results folder (a probe's --results)
        own = [a / "runs" for a in f.parents if a.is_relative_to(ROOT / "results")]
        bases = (ROOT, ROOT / "results" / "runs", *own)
        assert any((base / run).is_dir() for base in bases), (f.relative_to(ROOT), run)
