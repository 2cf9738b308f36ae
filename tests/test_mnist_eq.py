"""The mnist-eq table (smoke budget, end to end with its canonical-pose report) and the alignment-curve report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from stnlab.cli import main
from stnlab.experiments import get_table
from stnlab.experiments.equivariant_alignment import (
    REPORT,
    alignment_report,
    format_markdown,
    quarter_turns,
    write_report,
)
from stnlab.models import create_model
from test_equivariant import blobs

torch.set_num_threads(2)


def test_table_cells_and_budgets():
    table = get_table("mnist-eq")
    assert table.rows == ("CNN-inv", "CNN1-eq", "STN-C1-eq", "STN-SL1-eq") and table.columns == ("R",)
    assert all(c.paper is None and c.dataset == "mnist-rot" for c in table.cells)
    assert table.overrides == get_table("mnist-rst").overrides  # the recipe of the plain R cells
    assert table.budget("paper").overrides["epochs"] == 50 and table.budget("paper").seeds == 3


def test_smoke_reproduce_and_canonical_report(data_root, tmp_path, capsys):
    runs, results = str(tmp_path / "runs"), str(tmp_path / "results")
    assert main(["reproduce", "mnist-eq", "--budget", "smoke", "--runs", runs, "--results", results,
                 "--cell", "STN-C1-eq", "--no-progress"]) == 0
    data = json.loads((tmp_path / "results" / "mnist-eq.json").read_text())
    assert [c["row"] for c in data["cells"]] == ["STN-C1-eq"]
    assert main(["canonical", "--table", "mnist-eq", "--runs", runs, "--results", results, "--budget", "smoke",
                 "--images", "4"]) == 2  # STN-SL1-eq is not trained
    assert "stnlab reproduce mnist-eq --cell mnist-rot/STN-SL1-eq" in capsys.readouterr().err
    assert main(["canonical", "--table", "mnist-eq", "--runs", runs, "--results", results, "--budget", "smoke",
                 "--images", "4", "--models", "STN-C1-eq"]) == 0
    comp = json.loads((tmp_path / "results" / "mnist-eq-compensation.json").read_text())
    assert comp["table"] == "mnist-eq" and [r["model"] for r in comp["models"]] == ["STN-C1-eq"]
    assert comp["view_model"] == "STN-C1-eq" and len(comp["models"][0]["applied"]) == 7
    assert (tmp_path / "results" / "figures" / "mnist-eq-canonical.png").stat().st_size > 10_000
    assert not (tmp_path / "results" / "figures" / "mnist-canonical.png").exists()  # mnist-rst's stays its own
    assert main(["canonical", "--table", "mnist-eq", "--column", "S", "--runs", runs, "--results", results]) == 2
    assert "no canonical-pose report for column S" in capsys.readouterr().err


@pytest.fixture(scope="module")
def report():
    torch.manual_seed(0)
    backbones = {"equivariant": (create_model("CNN2-eq", "mnist-trans"), {"model": "CNN2-eq"}),
                 "plain": (create_model("CNN", "mnist-trans"), {"model": "CNN"})}
    return alignment_report(backbones, blobs(2, size=60), 8, angles=(-90.0, 45.0, 180.0), steps=2)


def test_alignment_report_rows_and_quarter_turns(report):
    rows = report["backbones"]["equivariant"]["rows"]
    assert len(rows) == 2 * 2 * 3 and {r["action"] for r in rows} == {None, "regular:8"}  # actions x depths x angles
    assert max(quarter_turns(report, "equivariant", "regular:8")) <= 1e-4  # -90 and 180, both depths
    assert min(quarter_turns(report, "equivariant", None)) > 0.3  # a spatial T_g alone: the theorem's residual
    assert min(quarter_turns(report, "plain", "regular:8")) > 0.3  # a plain CNN's channels are no regular fields
    at45 = [r["optimum"] for r in rows if r["angle"] == 45 and r["action"] == "regular:8"]
    assert 1e-4 < min(at45) and max(at45) < 0.3  # between quarter turns: interpolation, not the theorem


def test_alignment_report_files(report, tmp_path):
    json_path, png = write_report(report, tmp_path)
    assert json.loads(json_path.read_text())["group_order"] == 8 and png.stat().st_size > 10_000


def test_docs_table_is_generated_from_the_committed_report():
    root = Path(__file__).resolve().parents[1]
    data = json.loads((root / "results" / REPORT).read_text())
    docs = (root / "docs" / "equivariant.md").read_text()
    block = docs.split("<!-- equivariant-alignment:begin")[1].split("-->", 1)[1]
    block = block.split("<!-- equivariant-alignment:end")[0]
    assert block.strip() == format_markdown(data)
    for b in data["backbones"].values():  # the trained runs' small files are committed where the report says
        assert (root / b["run"] / "config.json").is_file() and (root / b["run"] / "metrics.jsonl").is_file()
