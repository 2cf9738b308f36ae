"""Real MNIST-R training: it learns, it is bit-reproducible, a SIGKILLed run resumes exactly, eval works."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from stnlab.train import DETERMINISTIC_KEYS, build_config, evaluate_run, load_checkpoint, load_run, read_metrics
from stnlab.train import train as run_training
from stnlab.train.metrics import ST_KEYS

DATA = os.environ.get("STNLAB_DATA")
pytestmark = pytest.mark.skipif(not DATA, reason="STNLAB_DATA is not set (real MNIST needed)")

# 200 steps of 32 images (~0.13 epochs), validated on 1,000 images at steps 100 and 200; one thread
# (robust when the test machine is busy, and bit-identical across processes).
SETS = {"steps": 200, "batch_size": 32, "val_every": 100, "ckpt_every": 40, "val_samples": 1000,
        "eval_batch_size": 500, "threads": 1}
ARGS = ["--model", "STN-C0", "--dataset", "mnist-rot", "--no-progress"]
for key, value in SETS.items():
    ARGS += ["--set", f"{key}={value}"]


def deterministic(records: list[dict]) -> list[dict]:
    """The reproducible part of the records, the ST statistics and warnings included."""
    assert all("st" in r for r in records)  # STN-C0 records carry ST statistics
    return [{k: r.get(k) for k in (*DETERMINISTIC_KEYS, *ST_KEYS)} for r in records]


def stnlab(*args, **kw) -> subprocess.Popen:
    env = {**os.environ, "STNLAB_DATA": str(Path(DATA).resolve())}
    return subprocess.Popen([sys.executable, "-m", "stnlab", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """One uninterrupted run (in-process)."""
    out = tmp_path_factory.mktemp("ref") / "run"
    run_training(build_config({"model": "STN-C0", "dataset": "mnist-rot", **SETS}), out, progress=False)
    return out


def test_stn_c0_learns_mnist_rot_well_below_chance(reference):
    records = read_metrics(reference / "metrics.jsonl")
    assert [r["step"] for r in records] == [100, 200]
    assert records[-1]["val_error"] < 0.5  # chance is 0.9
    assert records[-1]["train_loss"] < records[0]["train_loss"] < 2.3
    assert records[-1]["lr"] == pytest.approx(1e-4)  # decayed twice (milestones 0.5, 0.75)
    assert all(r["img_per_s"] > 0 and r["wall_time"] > 0 for r in records)
    best = load_checkpoint(reference / "best.pt")
    assert best["step"] == 200 and best["best"]["val_error"] == records[-1]["val_error"]


def test_same_seed_gives_identical_metrics_and_weights(tmp_path):
    def run(name: str, seed: int, prefetch: int = 0) -> tuple[list[dict], dict]:
        cfg = build_config({"model": "STN-C0", "dataset": "mnist-rot", **SETS, "steps": 12, "val_every": 6,
                            "seed": seed, "val_samples": 500, "prefetch": prefetch})
        run_training(cfg, tmp_path / name, progress=False)
        folder = tmp_path / name
        return deterministic(read_metrics(folder / "metrics.jsonl")), load_checkpoint(folder / "last.pt")

    (m1, c1), (m2, c2), (m3, _) = run("a", 0), run("b", 0, prefetch=2), run("c", 1)  # rendering ahead: same
    assert m1 == m2 and len(m1) == 2
    assert all(torch.equal(c1["model"][k], c2["model"][k]) for k in c1["model"])
    assert m3 != m1  # another seed: other weights, other order and transforms


def test_sigkill_mid_epoch_then_resume_reaches_exactly_the_same_metrics(reference, tmp_path):
    out = tmp_path / "killed"
    proc = stnlab("train", *ARGS, "--out", out)
    deadline, seen = time.time() + 240, None
    while time.time() < deadline and proc.poll() is None:  # wait for a mid-epoch checkpoint past step 100
        stamp = (out / "last.pt").stat().st_mtime_ns if (out / "last.pt").exists() else None
        if stamp != seen and stamp is not None:
            seen = stamp
            if load_checkpoint(out / "last.pt")["step"] >= 120:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    killed_at = load_checkpoint(out / "last.pt")["step"]
    assert 120 <= killed_at < 200 and killed_at % 40 == 0
    before = deterministic(read_metrics(out / "metrics.jsonl"))  # a second run, same seed, up to the kill
    assert before == deterministic(read_metrics(reference / "metrics.jsonl"))[:1]
    resumed = stnlab("train", "--out", out, "--resume", "--no-progress")
    stdout, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "step 200" in stdout and "ST 0 (input image): angle " in stdout  # one line per ST at the end
    expected = deterministic(read_metrics(reference / "metrics.jsonl"))
    assert deterministic(read_metrics(out / "metrics.jsonl")) == expected
    a, b = load_checkpoint(out / "last.pt"), load_checkpoint(reference / "last.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert all(torch.equal(a["optimizer"]["state"][i]["momentum_buffer"], b["optimizer"]["state"][i]["momentum_buffer"])
               for i in a["optimizer"]["state"])
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "config.json", "last.pt", "metrics.jsonl",
                                                     "st_grid_epoch001.png"]  # the grid of the last step


def test_eval_mean_and_std_over_transformed_passes(reference, capsys):
    from stnlab.cli import main

    assert main(["eval", str(reference), "--passes", "3", "--samples", "1000", "--batch-size", "250"]) == 0
    printed = capsys.readouterr().out
    res = json.loads((reference / "eval.json").read_text())
    assert f"test error {res['error']:.4f} +- {res['error_std']:.4f} over 3 passes" in printed
    errs = res["pass_errors"]
    assert len(errs) == 3 and len(set(errs)) > 1  # each pass draws new rotations
    assert res["error"] == pytest.approx(sum(errs) / 3)
    mean = sum(errs) / 3
    assert res["error_std"] == pytest.approx((sum((e - mean) ** 2 for e in errs) / 2) ** 0.5)
    assert res["num_samples"] == 1000 and res["error"] < 0.5 and res["step"] == 200
    assert set(res["per_class_error"]) == {str(c) for c in range(10)}
    # the same model through the Python API, last checkpoint, one pass: agrees with pass 0 above
    model, cfg = load_run(reference, which="last")
    assert cfg.model == "STN-C0" and cfg.dataset == "mnist-rot" and not model.training
    again = evaluate_run(reference, which="last", passes=1, batch_size=250, max_samples=1000, write=False)
    assert again["error"] == errs[0]
