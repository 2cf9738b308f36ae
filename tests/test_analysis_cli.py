"""``stnlab analyze``: every sub-command writes its JSON + PNG; user mistakes exit 2 with one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from helpers import cli_error
from stnlab.cli import main
from stnlab.experiments.report import read_report

QUICK = ["--images", "6", "--steps", "3", "--no-progress"]


@pytest.fixture(scope="module")
def run_dir(data_root, tmp_path_factory) -> Path:
    """A real (very short) STN-C0 training run on mnist-rot."""
    out = tmp_path_factory.mktemp("runs") / "stn-c0"
    sets = ["batch_size=16", "val_samples=32", "eval_batch_size=32", "family=rotation"]
    argv = ["train", "--model", "STN-C0", "--dataset", "mnist-rot", "--steps", "3", "--out", str(out)]
    argv += [a for s in sets for a in ("--set", s)] + ["--no-progress", "--data-root", str(data_root)]
    assert main(argv) == 0
    return out


def test_help_of_every_subcommand(capsys):
    for sub in ("alignment", "filters", "compensation", "figures"):
        with pytest.raises(SystemExit) as exc:
            main(["analyze", sub, "--help"])
        assert exc.value.code == 0
        assert "--out" in capsys.readouterr().out


def test_alignment_writes_json_and_png(tmp_path, data_root, capsys):
    out = tmp_path / "align"
    rc = main(["analyze", "alignment", "--out", str(out), "--transforms", "trans:4", "rot:90", *QUICK])
    assert rc == 0
    data = json.loads((out / "alignment.json").read_text())
    assert data["depths"] == [0, 1, 2] and data["transforms"] == ["trans4,0", "rot90"]
    trans = [r for r in data["rows"] if r["transform"] == "trans4,0"]
    assert all(r["optimum"]["max"] < 1e-5 for r in trans)
    assert (out / "alignment.png").read_bytes()[:4] == b"\x89PNG"
    assert "optimum" in capsys.readouterr().out


def test_filters_writes_json_and_png(tmp_path, data_root):
    out = tmp_path / "filters"
    assert main(["analyze", "filters", "--out", str(out), "--filters", "2", "--transforms", "rot:90", *QUICK]) == 0
    data = json.loads((out / "filters.json").read_text())
    assert {r["filters"] for r in data["rows"]} == {"random", "c4", "radial"}
    assert data["two_channel"]["with_permutation"]["optimum"] < 1e-4
    assert (out / "filters.png").exists()


def test_compensation_and_figures_of_a_trained_run(run_dir, capsys):
    argv = ["analyze", "compensation", str(run_dir), "--values", "-30", "0", "30", "--images", "6", "--no-progress"]
    assert main(argv) == 0
    data = read_report(run_dir / "analysis" / "compensation_rotation.json")  # the one report schema
    assert data == json.loads((run_dir / "analysis" / "compensation_rotation.json").read_text())
    assert data["values"] == [-30, 0, 30] and data["images"] == 6 and data["dataset"] == "mnist-rot"
    (row,) = data["models"]
    assert row["model"] == "STN-C0" and row["acts_on"] == "input" and row["applied"] == pytest.approx([-30, 0, 30])
    assert -1 <= row["circ_corr"] <= 1 and len(row["error"]) == 3 and row["seed"] == 0
    assert "slope" in capsys.readouterr().out
    out = run_dir / "figs"
    argv = ["analyze", "figures", str(run_dir), "--out", str(out), "--transforms", "rot:45", *QUICK]
    assert main(argv) == 0
    names = {p.name for p in out.iterdir()}
    assert {"compensation_rotation.png", "error_vs_rotation.png", "st_grid_rotation.png", "alignment.png"} <= names
    assert not [n for n in names if n.startswith(".")]  # no temporary files left behind


def test_user_mistakes_exit_2_without_output(tmp_path, data_root, capsys):
    out = tmp_path / "bad"
    assert "KIND:VALUE" in cli_error(capsys, "analyze", "alignment", "--out", out, "--transforms", "spin:4", *QUICK)
    assert not out.exists()  # nothing written for a failed command
    assert "missing --out" in cli_error(capsys, "analyze", "alignment", *QUICK)
    assert "unknown dataset" in cli_error(capsys, "analyze", "alignment", "--out", out, "--dataset", "cifar")
    assert "fewer than" in cli_error(
        capsys, "analyze", "alignment", "--out", out, "--dataset", "mnist", "--depths", "2", *QUICK
    )
    assert "does not exist" in cli_error(capsys, "analyze", "compensation", tmp_path / "nope")
    assert "--images must be" in cli_error(capsys, "analyze", "filters", "--out", out, "--images", "1")
    assert "--size in 3..28" in cli_error(capsys, "analyze", "filters", "--out", out, "--size", "40", *QUICK)
    assert not out.exists()


def test_a_gpu_trained_run_is_analysed_on_the_cpu(run_dir, tmp_path, capsys):
    copy = tmp_path / "gpu-run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("analysis", "figs"))
    cfg = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**cfg, "device": "cuda"}))
    argv = ["analyze", "compensation", str(copy), "--values", "-30", "30", "--images", "4", "--no-progress"]
    assert main([*argv, "--device", "cpu"]) == 0 and main([*argv, "--device", "auto"]) == 0
    assert json.loads((copy / "analysis" / "compensation_rotation.json").read_text())["models"][0]["model"] == "STN-C0"
    if not torch.cuda.is_available():
        shutil.rmtree(copy / "analysis")
        assert "no CUDA GPU" in cli_error(capsys, *argv, "--device", "cuda")
        assert not (copy / "analysis").exists()
