"""One compensation report: the schema every writer uses, the reader that converts the older shapes without
losing a stored number, and the one formatter (the committed reports are in the schema)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from stnlab.analysis.compensation import CompensationResult
from stnlab.experiments import get_table
from stnlab.experiments.report import SCHEMA, acts_on, format_report_markdown, make_report, read_report, report_row

ROOT = Path(__file__).resolve().parents[1]


def _result(kind: str = "scale") -> CompensationResult:
    applied = torch.log(torch.tensor([0.5, 1.0, 2.0]))
    predicted = -applied[:, None] + 0.1 * torch.randn(3, 4)
    return CompensationResult(kind, 0, [0.5, 1.0, 2.0], applied, predicted, torch.tensor([0, 1, 0, 1]),
                              torch.tensor([0.1, 0.0, 0.2]), -0.95, 0.01, 0.9, 0.2, math.log(2) * 0.8)


def test_a_row_is_in_the_kind_s_report_unit_and_complete():
    row = report_row(_result(), model="STN-C1", run="r", budget="cpu", seed=2, depth=1)
    assert row["applied"] == pytest.approx([-1.0, 0.0, 1.0], abs=1e-6)  # octaves
    assert row["baseline_std"] == pytest.approx(0.8) and row["acts_on"] == "feature maps, depth 1"
    assert row["canonical_mean"] == pytest.approx([a + p for a, p in zip(row["applied"], row["predicted_mean"])],
                                                  abs=1e-5)
    report = make_report([row], kind="scale", dataset="mnist-scale", images=4, values=[0.5, 1.0, 2.0])
    assert report["schema"] == SCHEMA and report["unit"] == "octaves" and read_report(report) == report
    assert report["per_seed"] == [{"model": "STN-C1", "seed": 2, "slope": -0.95, "r2": 0.9, "class_std":
                                   row["class_std"], "circ_corr": None}]


def test_where_an_st_acts_from_its_name_or_depth():
    assert [acts_on(m) for m in ("STN-C0", "STN-C2", "STN-SL1", "STN-DL2")] == [
        "input", "feature maps, depth 2", "input (shared trunk)", "input (own trunk)"]
    assert acts_on("STN-C0123", 3) == "feature maps, depth 3" and acts_on("STN-C0123") is None


def test_the_three_older_shapes_convert_without_losing_a_number():
    canonical = {"table": "mnist-rst", "column": "T", "kind": "translation", "unit": "px", "images": 200,
                 "models": [{"model": "STN-C1", "run": "x", "budget": "paper", "seed": 0, "slope": -1.0, "r2": 1.0,
                             "class_std": 0.8, "baseline_std": 11.3, "applied": [-16.0, 16.0]}],
                 "per_seed": [{"model": "STN-C1", "seed": 0, "slope": -1.0, "r2": 1.0, "class_std": 0.8}]}
    new = read_report(canonical)
    assert new["dataset"] == "mnist-trans" and new["models"][0]["acts_on"] == "feature maps, depth 1"
    assert {k: new["models"][0][k] for k in canonical["models"][0]} == canonical["models"][0]
    assert new["models"][0]["circ_corr"] is None and new["per_seed"][0]["circ_corr"] is None
    plankton = {"images": 3, "angles": [-180.0, 180.0], "models": [
        {"model": "STN-C2", "acts_on": "feature maps, depth 2", "slope": 0.0, "circ_corr": -0.1, "budget": "cpu",
         "seed": 0, "error_by_angle": [0.5, 0.6]}]}
    new = read_report(plankton)
    assert new["values"] == [-180.0, 180.0] and new["models"][0]["error"] == [0.5, 0.6]
    assert new["table"] == "plankton" and new["models"][0]["canonical_std"] is None
    analyze = {"run": "r", "model": "STN-C0", "dataset": "mnist-scale", "kind": "scale", "st_index": 0,
               "values": [0.5, 2.0], "applied": [-math.log(2), math.log(2)], "predicted_mean": [0.0, 0.0],
               "slope": 0.0, "r2": 0.0, "class_std": math.log(2), "baseline_std": math.log(2), "circ_corr": None,
               "num_images": 5, "error": [0.1, 0.2]}
    new = read_report(analyze)
    assert new["images"] == 5 and new["models"][0]["applied"] == pytest.approx([-1.0, 1.0])  # to octaves
    assert new["models"][0]["class_std"] == pytest.approx(1.0) and new["models"][0]["error"] == [0.1, 0.2]


def test_the_formatter_leaves_out_what_no_row_measured():
    rows = [report_row(_result("rotation"), model="STN-C2", run="r", budget="long", seed=0, depth=2)]
    text = format_report_markdown(make_report(rows, kind="rotation", dataset="plankton", images=4, values=[0, 1, 2]))
    assert text.startswith("**Compensation of rotations** (4 test images of plankton, rotated over")
    header = text.splitlines()[2]
    assert "circular corr." not in header and "over seeds" not in header  # none measured
    assert "| STN-C2 | feature maps, depth 2 | -0.95 | 0.90 |" in text and "| long, 0 |" in text


def test_the_committed_reports_are_in_the_schema():
    names = [*get_table("mnist-rst").reports.values(), *get_table("plankton").reports.values()]
    for name in names:
        data = json.loads((ROOT / "results" / name).read_text())
        assert data["schema"] == SCHEMA and read_report(data) == data, name
        assert all(r["acts_on"] and r["slope"] is not None for r in data["models"]), name
    assert "compensation" not in json.loads((ROOT / "results" / "plankton.json").read_text())
