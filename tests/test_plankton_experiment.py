"""The plankton table end to end on a tiny synthetic PlanktonSet tree: smoke budget, compensation report."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from stnlab.cli import main
from stnlab.experiments import get_table, write_table_results
from stnlab.experiments.claims import CLAIMS, format_claims


def _blob(rng: np.random.Generator, cls: int) -> bytes:
    """A JPEG of a dark elongated blob on white paper, its shape depending on the class."""
    h, w = rng.integers(40, 120, size=2)
    yy, xx = np.mgrid[:h, :w]
    a, b = (0.4, 0.15) if cls == 0 else (0.2, 0.2) if cls == 1 else (0.35, 0.05)
    ink = ((yy / h - 0.5) / a) ** 2 + ((xx / w - 0.5) / b) ** 2 < 1
    buf = io.BytesIO()
    Image.fromarray(np.where(ink, 30, 240).astype(np.uint8)).convert("RGB").save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    """Three classes of 12 images each (1 test, 1 val, 10 train per class)."""
    root = tmp_path_factory.mktemp("plankton-root")
    rng = np.random.default_rng(0)
    for cls, name in enumerate(("acantharia", "copepod", "diatom")):
        folder = root / "plankton" / "train" / name
        folder.mkdir(parents=True)
        for i in range(12):
            (folder / f"{i}.jpg").write_bytes(_blob(rng, cls))
    return root


def test_reproduce_plankton_smoke_and_its_compensation_report(tiny_root, tmp_path, capsys):
    dirs = ["--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "results"), "--data-root",
            str(tiny_root), "--cache-dir", str(tmp_path / "cache")]
    assert main(["reproduce", "plankton", "--budget", "smoke", "--no-progress", *dirs]) == 0
    data = json.loads((tmp_path / "results" / "plankton.json").read_text())
    assert [c["row"] for c in data["cells"]] == ["CNN", "STN-C2", "STN-C7", "STN-SL2", "STN-DL2"]
    assert all(c["budget"] == "smoke" and len(c["errors"]) == 1 and 0 <= c["mean"] <= 100 for c in data["cells"])
    assert {c["row"]: c["paper"] for c in data["cells"]}["STN-C2"] == 22.3
    capsys.readouterr()
    assert main(["canonical", "--table", "plankton", "--budget", "smoke", "--images", "3", *dirs]) == 0
    assert "STN-C7: slope" in capsys.readouterr().out
    comp = json.loads((tmp_path / "results" / "plankton-compensation.json").read_text())
    assert comp["schema"] == "compensation/1" and comp["kind"] == "rotation" and comp["dataset"] == "plankton"
    assert [r["model"] for r in comp["models"]] == ["STN-C2", "STN-C7", "STN-SL2", "STN-DL2"]
    assert [r["acts_on"] for r in comp["models"]] == ["feature maps, depth 2", "feature maps, depth 7",
                                                      "input (shared trunk)", "input (own trunk)"]
    assert [r["run"] for r in comp["models"]] == [f"plankton/smoke/plankton/{m}/seed0" for m in
                                                  ("STN-C2", "STN-C7", "STN-SL2", "STN-DL2")]
    assert comp["values"][0] == -180 and comp["values"][-1] == 180 and comp["images"] == 3
    assert all(-1 <= r["circ_corr"] <= 1 and len(r["predicted_mean"]) == 13 and len(r["canonical_std"]) == 13
               for r in comp["models"])
    assert (tmp_path / "results" / "figures" / "plankton-compensation.png").stat().st_size > 20_000
    # regenerating the table's errors leaves the report alone, and the .md shows it under the table
    write_table_results(get_table("plankton"), tmp_path / "results")
    assert json.loads((tmp_path / "results" / "plankton-compensation.json").read_text()) == comp
    md = (tmp_path / "results" / "plankton.md").read_text()
    assert "**Compensation of rotations** (3 test images of plankton" in md
    rows = [line for line in format_claims(tmp_path / "results").splitlines() if line.startswith("| P-")]
    assert len(rows) == 2 and "not run here" not in rows[1] and all("smoke" in r for r in rows)
    # networks land one by one (checkpoints need not outlive a session): a later measurement keeps the others' rows
    for m in ("STN-C7", "STN-DL2"):
        (tmp_path / "runs" / "plankton" / "smoke" / "plankton" / m / "seed0" / "best.pt").unlink()
    assert main(["canonical", "--table", "plankton", "--budget", "smoke", "--images", "3", *dirs]) == 0
    again = json.loads((tmp_path / "results" / "plankton-compensation.json").read_text())
    assert again["models"] == comp["models"] and again["per_seed"] == comp["per_seed"]  # deterministic, kept
    assert main(["canonical", "--table", "plankton", "--budget", "smoke", "--images", "4", "--models", "STN-C2",
                 *dirs]) == 2  # other images than the kept rows': refused, nothing written
    assert json.loads((tmp_path / "results" / "plankton-compensation.json").read_text()) == again
    assert main(["canonical", "--table", "plankton", "--budget", "smoke", "--models", "STN-C7", *dirs]) == 2
    assert "no trained STN-C7 run" in capsys.readouterr().err
    # a run still training (a checkpoint, no final eval.json) is never measured: left out, or refused when named
    (tmp_path / "runs" / "plankton" / "smoke" / "plankton" / "STN-SL2" / "seed0" / "eval.json").unlink()
    assert main(["canonical", "--table", "plankton", "--budget", "smoke", "--images", "3", "--models", "STN-SL2",
                 *dirs]) == 2
    assert "STN-SL2 run in" in (err := capsys.readouterr().err) and "has not finished" in err
    assert json.loads((tmp_path / "results" / "plankton-compensation.json").read_text()) == again


def _weigh(key: str, results):
    return next(c for c in CLAIMS if c.key == key).weigh(results)


@pytest.mark.parametrize("c2,c7,verdict", [(-0.8, 0.02, "reproduced"), (-0.8, -0.7, "partly"),
                                           (0.01, 0.02, "not reproduced"), (0.3, 0.6, "not reproduced"),
                                           ((-0.8, -0.01), 0.0, "not reproduced"),  # consistent but tiny
                                           (-0.8, None, "partly"), (0.01, None, "not reproduced")])  # no C7 yet
def test_compensation_claim_verdicts(tmp_path, c2, c7, verdict):
    pairs = [c if isinstance(c, tuple) else (c, c) for c in (c2, c7)]  # (circular corr., slope)
    rows = [{"model": m, "circ_corr": cc, "slope": sl, "budget": "cpu"}
            for m, (cc, sl) in zip(("STN-C2", "STN-C7"), pairs) if cc is not None]
    (tmp_path / "plankton.json").write_text(json.dumps({"compensation": {"models": rows}}))
    assert _weigh("P-comp", tmp_path).verdict == verdict
    assert _weigh("P-error", tmp_path).verdict == "not run here"  # no run files


def test_plankton_report_needs_a_trained_run(tiny_root, tmp_path):
    assert main(["canonical", "--table", "plankton", "--runs", str(tmp_path / "none"), "--results",
                 str(tmp_path / "r"), "--data-root", str(tiny_root)]) == 2
    assert not (tmp_path / "r").exists()
    assert main(["canonical", "--images", "0", "--runs", str(tmp_path / "none")]) == 2


@pytest.mark.parametrize("budget,errors,verdict", [
    ("cpu", {"STN-SL2": 60.7, "STN-DL2": 59.5}, "not run here"),  # gaps within 2 standard errors: noise
    ("cpu", {"STN-SL2": 55.0, "STN-DL2": 54.0}, "partly"),  # clear gaps, but not at the paper budget
    ("cpu", {"STN-SL2": 63.0, "STN-DL2": 62.5}, "not reproduced"),  # both clearly worse
    ("cpu", {"STN-SL2": 61.0, "STN-DL2": 60.9}, "not run here"),  # worse, but within the noise
    ("paper", {"STN-SL2": 21.5, "STN-DL2": 21.0}, "reproduced"),
    ("paper", {"STN-SL2": 22.5, "STN-DL2": 21.0}, "partly"),
])
def test_plankton_error_claim_weighs_gaps_against_noise(tmp_path, monkeypatch, budget, errors, verdict):
    from stnlab.experiments import evidence
    c2 = 60.6 if budget == "cpu" else 22.3
    entries = [{"row": r, "column": "error", "mean": m, "std": None, "budget": budget, "errors": [m],
                "seeds": [0]} for r, m in {"STN-C2": c2, **errors}.items()]
    monkeypatch.setattr(evidence, "aggregate", lambda table, results: entries)
    run = tmp_path / "runs" / "plankton" / budget / "plankton" / "STN-C2" / "seed0"
    run.mkdir(parents=True)
    (run / "eval.json").write_text(json.dumps({"num_samples": 3032}))
    ev = _weigh("P-error", tmp_path)
    assert ev.verdict == verdict, ev.text
    assert "3032 test images" in ev.text


def test_plankton_error_claim_compares_at_one_budget(tmp_path, monkeypatch):
    """STN-C2 is weighed against the input STs of its own budget, never against a reduced-budget one."""
    from stnlab.experiments import evidence
    rows = [("STN-C2", "paper", 22.3), ("STN-SL2", "paper", 21.5), ("STN-C2", "cpu", 60.6), ("STN-DL2", "cpu", 59.5)]
    entries = [{"row": r, "column": "error", "mean": m, "std": None, "budget": b, "errors": [m], "seeds": [0]}
               for r, b, m in rows]
    monkeypatch.setattr(evidence, "aggregate", lambda table, results: entries)
    ev = _weigh("P-error", tmp_path)
    assert ev.verdict == "reproduced" and "STN-C2 22.30 (n=1, paper)" in ev.text and "STN-DL2" not in ev.text, ev.text
    monkeypatch.setattr(evidence, "aggregate", lambda table, results: entries[:1] + entries[3:])  # no common budget
    assert _weigh("P-error", tmp_path).verdict == "not run here"
