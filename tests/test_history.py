"""``stnlab analyze history``: one row per validation of a run's metrics.jsonl, errors and ST statistics."""

import json
from pathlib import Path

from stnlab.cli import main
from stnlab.train import read_metrics
from stnlab.train.history import format_history, history_rows

S_SL1 = Path(__file__).parent.parent / "results/runs/mnist-rst/cpu/mnist-scale/STN-SL1+grad_clip=1.0/seed0"


def _st(slope: float) -> dict:
    stat = {"mean": 0.5, "std": 2.0, "mean_abs": 0.5, "p5": 0.0, "p95": 1.0}
    return {"index": 0, "acts_on": "input image", "det": dict(stat, mean=0.8), "outside": dict(stat, mean=0.25),
            "angle_deg": stat, "compensation": {"angle_deg": {"slope": slope, "r2": 0.9}}}


def test_rows_are_the_validation_records_with_each_sts_numbers():
    records = [{"step": 5, "epoch": 0.5, "train_loss": 1.0},  # a record without validation: no row
               {"step": 10, "epoch": 1.0, "train_error": 0.2, "val_error": 0.3, "st": [_st(-0.2)]},
               {"step": 20, "epoch": 2.0, "train_error": 0.1, "val_error": 0.1, "st": [_st(-0.9)]}]
    rows = history_rows(records)
    assert [r["step"] for r in rows] == [10, 20]
    assert rows[1]["st0 angle_deg slope"] == -0.9 and rows[1]["st0 det"] == 0.8 and rows[1]["st0 outside"] == 0.25
    text = format_history(rows).splitlines()
    assert text[0].split()[:4] == ["epoch", "step", "train", "err"] and len(text) == 3
    assert text[2].split()[-2:] == ["-0.90", "0.90"] and "25.00" in text[2] and "10.00" in text[2]
    md = format_history(rows, markdown=True).splitlines()
    assert md[1].count("---") == md[0].count("|") - 1 and md[3].startswith("| 2.00 | 20 |")


def test_a_feature_map_st_adds_its_input_shift_slopes():
    st = dict(_st(-1.16), compensation={"tx": {"slope": -1.16, "r2": 0.99}},
              compensation_input={"tx": {"slope": -1.01, "r2": 0.99}})
    row = history_rows([{"step": 1, "epoch": 1.0, "train_error": 0.1, "val_error": 0.1, "st": [st]}])[0]
    assert row["st0 tx slope"] == -1.16 and row["st0 tx input slope"] == -1.01
    assert format_history([row]).splitlines()[1].split()[-1] == "-1.01"


def test_a_cnn_has_error_columns_only():
    rows = history_rows([{"step": 1, "epoch": 1.0, "train_error": 0.5, "val_error": 0.4}])
    assert list(rows[0]) == ["epoch", "step", "train_error", "val_error"]


def test_cli_prints_the_committed_s_run_and_its_final_compensation(capsys):
    records = [r for r in read_metrics(S_SL1 / "metrics.jsonl") if r.get("val_error") is not None]
    assert main(["analyze", "history", str(S_SL1)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == str(S_SL1) and len(out) == 2 + len(records)
    final = records[-1]["st"][0]["compensation"]["log_scale"]["slope"]
    assert out[-1].split()[-2] == f"{final:+.2f}" and final < -0.7  # the S STN-SL1 learned the canonical size


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    assert main(["analyze", "history", str(tmp_path / "nowhere")]) == 2
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 1, "train_loss": 2.0}) + "\n")
    assert main(["analyze", "history", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "not found" in err[0] and "no validation record yet" in err[1]
