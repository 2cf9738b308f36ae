"""Ctrl-C and SIGTERM stop a training run cleanly: the step in progress finishes, ``last.pt`` is written, the
exact resume command is printed, the exit status is 130 / 143; the resumed run ends bit-identical to an
uninterrupted one (weights, optimizer state, every metrics record). Tiny synthetic data, one thread."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from stnlab.cli import main
from stnlab.train import DETERMINISTIC_KEYS, build_config, load_checkpoint, read_metrics
from stnlab.train import train as run_training
from stnlab.train.metrics import ST_KEYS

torch.set_num_threads(2)

STEPS = 300
SETS = {"steps": STEPS, "batch_size": 8, "val_every": 30, "ckpt_every": 0, "eval_batch_size": 64, "threads": 1,
        "st_grid_every": 0}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> str:
    """240 24x24 images of 3 classes: a bright band per class, on noise."""
    rng = np.random.default_rng(0)
    y = np.arange(240) % 3
    x = (rng.random((240, 24, 24)) * 60).astype(np.uint8)
    for c in range(3):
        x[y == c, :, 8 * c:8 * c + 8] = 220
    path = tmp_path_factory.mktemp("sig") / "bands.npz"
    np.savez(path, x_train=x, y_train=y)
    return f"npz:{path}"


def cli_args(data: str) -> list[str]:
    args = ["train", "--model", "STN-C0", "--dataset", data, "--no-progress"]
    for key, value in SETS.items():
        args += ["--set", f"{key}={value}"]
    return args


def stop_after_first_record(data: str, out: Path, signum: int) -> tuple[int, str]:
    """Train in a child process; once its first validation is written, send ``signum``; (exit status, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "stnlab", *cli_args(data), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (out / "metrics.jsonl").is_file() and (out / "metrics.jsonl").read_text().strip():
            time.sleep(0.25)  # into the steps after it (mid-epoch, as a rule)
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be stopped"
    os.kill(proc.pid, signum)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def deterministic(folder: Path) -> list[dict]:
    return [{k: r.get(k) for k in (*DETERMINISTIC_KEYS, *ST_KEYS)} for r in read_metrics(folder / "metrics.jsonl")]


def test_sigterm_mid_training_then_resume_is_bit_identical(data, tmp_path, capsys):
    reference = tmp_path / "reference"
    run_training(build_config({"model": "STN-C0", "dataset": data, **SETS}), reference, progress=False)
    out = tmp_path / "stopped"
    code, err = stop_after_first_record(data, out, signal.SIGTERM)
    step = load_checkpoint(out / "last.pt")["step"]
    assert code == 143 and 24 <= step < STEPS, err  # 24 steps an epoch: the first validation at step 24
    assert err.strip() == (f"stnlab: stopped by SIGTERM at step {step} of {STEPS}; wrote {out / 'last.pt'}; resume "
                           f"with: stnlab train --resume --out {out}")  # one line, no traceback
    assert not list(out.glob(".*.part"))

    assert main(["train", "--resume", "--out", str(out), "--no-progress"]) == 0  # the printed command
    assert f"step {STEPS} (epoch" in capsys.readouterr().out
    assert deterministic(out) == deterministic(reference) and len(deterministic(out)) == 20  # 12 + 10 - 2 shared
    a, b = load_checkpoint(out / "last.pt"), load_checkpoint(reference / "last.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in b["model"])
    assert all(torch.equal(a["optimizer"]["state"][i]["momentum_buffer"], b["optimizer"]["state"][i]["momentum_buffer"])
               for i in b["optimizer"]["state"])


def test_ctrl_c_writes_a_checkpoint_and_exits_130(data, tmp_path):
    out = tmp_path / "run"
    code, err = stop_after_first_record(data, out, signal.SIGINT)
    step = load_checkpoint(out / "last.pt")["step"]
    assert code == 130 and 24 <= step < STEPS, err
    assert err.strip().startswith(f"stnlab: stopped by SIGINT at step {step} of {STEPS}; wrote {out / 'last.pt'}")
    assert "Traceback" not in err
