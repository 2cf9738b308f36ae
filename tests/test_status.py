"""`stnlab reproduce TABLE --status`: the state of each run, read from its folder without training anything."""

import json
import os
from pathlib import Path

import pytest

from stnlab.cli import main
from stnlab.experiments import get_table, run_dir
from stnlab.experiments.results import result_dir
from stnlab.experiments.status import format_status, run_status
from stnlab.train.checkpoint import run_folder_lock


def _folder(tmp_path, model, seed=0):
    table = get_table("mnist-rst")
    folder = run_dir(table, table.cell(model, "R"), tmp_path, "paper", seed)
    folder.mkdir(parents=True)
    return folder


def test_status_reads_finished_in_progress_and_missing_runs(tmp_path, capsys):
    done = _folder(tmp_path, "CNN")
    (done / "eval.json").write_text(json.dumps({"split": "test", "error": 0.0152, "passes": 10}))
    half = _folder(tmp_path, "STN-C0")
    (half / "config.json").write_text(json.dumps({"epochs": 50, "steps": None, "batch_size": 256}))
    (half / "last.pt").write_bytes(b"")
    records = [{"epoch": 1.0, "step": 195, "val_error": 0.5, "img_per_s": 100.0},
               {"epoch": 2.0, "step": 390, "val_error": 0.2056, "img_per_s": 128.0,
                "st": [{"index": 0, "det": {"mean": 1.0}, "outside": {"mean": 0.0}, "angle_deg": {"std": 30.0},
                        "compensation": {"angle": {"slope": -0.734, "r2": 0.8}}}]}]
    (half / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + '{"epoch": 2.3, "st')
    rows = {r.cell: r for r in run_status(get_table("mnist-rst"), tmp_path, cells=["R"], seeds=1)}
    assert rows["mnist-rot/CNN"].state == "finished" and rows["mnist-rot/CNN"].error == pytest.approx(1.52)
    c0 = rows["mnist-rot/STN-C0"]  # the cut last line is skipped; 195 steps per epoch x 50 epochs
    assert (c0.state, c0.step, c0.total) == ("in progress", 390, 9750)
    assert c0.val_error == pytest.approx(20.56) and c0.eta_s == pytest.approx((9750 - 390) * 256 / 128.0)
    assert c0.age_s is not None and c0.age_s < 60
    assert c0.st_slope == "angle -0.73"  # the last complete record's first ST
    assert rows["mnist-rot/CNN"].st_slope is None  # no ST (and no records)
    assert rows["mnist-rot/STN-SL1"].state == "not started"
    text = format_status(rows.values())
    assert "390/9750" in text and "5.2 h" in text and "1.52" in text and "angle -0.73" in text
    assert c0.pid is None and " stopped " in text  # no live process holds its lock
    assert main(["reproduce", "mnist-rst", "--status", "--cell", "R", "--seeds", "1", "--runs", str(tmp_path),
                 "--results", str(tmp_path / "no-results")]) == 0
    out = capsys.readouterr().out
    assert out.count("not started") == 3 and "stopped" in out
    assert not (tmp_path / "results").exists() and not list(tmp_path.rglob("results"))  # nothing written


def test_time_left_counts_validation_from_the_last_two_records(tmp_path):
    """With two records, the pace is their wall_time difference (training and validation), not img/s alone."""
    half = _folder(tmp_path, "STN-C1")
    (half / "config.json").write_text(json.dumps({"epochs": 50, "steps": None, "batch_size": 256}))
    (half / "last.pt").write_bytes(b"")
    records = [{"epoch": 1.0, "step": 195, "val_error": 0.5, "img_per_s": 256.0, "wall_time": 200.0},
               {"epoch": 2.0, "step": 390, "val_error": 0.3, "img_per_s": 256.0, "wall_time": 434.0}]
    (half / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    c1 = {r.cell: r for r in run_status(get_table("mnist-rst"), tmp_path, cells=["R"], seeds=1)}["mnist-rot/STN-C1"]
    assert c1.eta_s == pytest.approx((9750 - 390) * 234.0 / 195)  # 1.2 s a step, not the 1.0 of 256 img/s


def test_a_run_trained_elsewhere_shows_its_committed_result(tmp_path, capsys):
    """No run folder here, but the result under results/runs: 'committed' with its error, not 'not started'."""
    table = get_table("mnist-rst")
    results = tmp_path / "results"
    committed = result_dir(results, table, "paper", "mnist-rot/STN-DL1", 0)
    committed.mkdir(parents=True)
    (committed / "eval.json").write_text(json.dumps({"split": "test", "error": 0.0104, "passes": 10}))
    rows = {r.cell: r for r in run_status(table, tmp_path / "runs", cells=["R"], seeds=1, results=results)}
    assert (rows["mnist-rot/STN-DL1"].state, rows["mnist-rot/STN-DL1"].error) == ("committed", pytest.approx(1.04))
    assert rows["mnist-rot/STN-SL1"].state == "not started"
    assert run_status(table, tmp_path / "runs", cells=["STN-DL1"], seeds=1)[0].state == "not started"  # no results
    running = _folder(tmp_path / "runs", "STN-DL1")  # a rerun here takes precedence over the committed result
    (running / "config.json").write_text(json.dumps({"epochs": 50, "steps": None, "batch_size": 256}))
    (running / "last.pt").write_bytes(b"")
    assert run_status(table, tmp_path / "runs", cells=["STN-DL1"], seeds=1, results=results)[0].state == "in progress"
    assert main(["reproduce", "mnist-rst", "--status", "--cell", "STN-SL1", "--cell", "STN-DL1", "--seeds", "1",
                 "--runs", str(tmp_path / "other"), "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "committed" in out and "1.04" in out and "(val)" not in out


def test_before_the_first_validation_the_checkpoint_gives_the_step(tmp_path):
    """No metrics record yet: the step comes from last.pt (total and time left unknown); a bad file reads 0."""
    from stnlab.train.checkpoint import save_checkpoint
    early = _folder(tmp_path, "STN-SL1")
    (early / "config.json").write_text(json.dumps({"epochs": 50, "steps": None, "batch_size": 256}))
    save_checkpoint(early / "last.pt", {"step": 40, "wall_time": 12.5})
    corrupt = _folder(tmp_path, "STN-DL1")
    (corrupt / "config.json").write_text(json.dumps({"epochs": 50, "steps": None, "batch_size": 256}))
    (corrupt / "last.pt").write_bytes(b"half a zip")
    rows = {r.cell: r for r in run_status(get_table("mnist-rst"), tmp_path, cells=["R"], seeds=1)}
    sl1, dl1 = rows["mnist-rot/STN-SL1"], rows["mnist-rot/STN-DL1"]
    assert (sl1.state, sl1.step, sl1.total, sl1.eta_s) == ("in progress", 40, None, None)
    assert (dl1.state, dl1.step) == ("in progress", 0)
    text = format_status([sl1, dl1]).splitlines()
    assert "40/?" in text[1] and "/?" not in text[2]


def test_a_feature_map_st_shows_its_shifts_in_input_coordinates(tmp_path):
    """STN-C1's ST acts on layer-1 maps: exact centring is -1.15 there, -1 in input coordinates (shown)."""
    table = get_table("mnist-rst")
    cell = table.cell("STN-C1", "T")
    folder = run_dir(table, cell, tmp_path, "paper", 0)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"epochs": 50, "steps": None, "batch_size": 256}))
    (folder / "last.pt").write_bytes(b"")
    fit = {"tx": {"slope": -1.16, "r2": 0.99}, "ty": {"slope": -1.15, "r2": 0.99}}
    st = {"index": 0, "det": {"mean": 0.7}, "outside": {"mean": 0.2}, "angle_deg": {"std": 0.7}, "compensation": fit,
          "compensation_input": {"tx": {"slope": -1.01, "r2": 0.99}, "ty": {"slope": -0.99, "r2": 0.99}}}
    (folder / "metrics.jsonl").write_text(json.dumps({"epoch": 1.0, "step": 195, "val_error": 0.1, "st": [st]}) + "\n")
    c1 = {r.cell: r for r in run_status(table, tmp_path, cells=["T"], seeds=1)}[cell.key]
    assert c1.st_slope == "tx -1.01, ty -0.99"


def test_a_run_whose_folder_a_live_process_has_locked_shows_as_training(tmp_path):
    half = _folder(tmp_path, "STN-C0")
    (half / "config.json").write_text(json.dumps({"epochs": 50, "steps": None, "batch_size": 256}))
    (half / "last.pt").write_bytes(b"")
    (half / "metrics.jsonl").write_text(json.dumps({"epoch": 1.0, "step": 195, "val_error": 0.5}) + "\n")
    (half / ".lock").write_text("999999999\n")  # a killed process's stale file: no such pid

    def row():
        return {r.cell: r for r in run_status(get_table("mnist-rst"), tmp_path, cells=["R"], seeds=1)}[
            "mnist-rot/STN-C0"]

    assert row().pid is None
    if Path("/proc/locks").is_file():  # Linux: a live pid that holds no lock (a reused pid) is not training either
        (half / ".lock").write_text(f"{os.getpid()}\n")
        assert row().pid is None
    with run_folder_lock(half):
        assert row().pid == os.getpid() and " training " in format_status([row()])
    assert row().pid is None and not (half / ".lock").exists()
