"""torchrun --nproc_per_node=2 on CPU (gloo): identical parameters on both ranks, one set of files."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from stnlab.train import build_model, load_checkpoint, load_run, read_metrics

DATA = os.environ.get("STNLAB_DATA")
pytestmark = pytest.mark.skipif(not DATA, reason="STNLAB_DATA is not set (real MNIST needed)")

# Runs on every rank: train through the CLI, then record this rank's parameters outside the run folder.
WORKER = """
import os, sys, torch
import stnlab.train.loop as loop
seen = {}
real_loop = loop._loop
def spy(job, *args, **kw):
    seen["model"] = job.model
    return real_loop(job, *args, **kw)
loop._loop = spy
from stnlab.cli import main
rc = main(sys.argv[2:])
flat = torch.cat([p.detach().reshape(-1) for p in seen["model"].parameters()])
torch.save(flat, os.path.join(sys.argv[1], f"params-rank{os.environ['RANK']}.pt"))
sys.exit(rc)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_ranks_identical_parameters_one_set_of_files(tmp_path):
    worker, spy = tmp_path / "worker.py", tmp_path / "spy"
    worker.write_text(WORKER)
    spy.mkdir()
    out = tmp_path / "run"
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--nproc_per_node=2", f"--master_port={free_port()}", str(worker), str(spy),
           "train", "--model", "STN-C0", "--dataset", "mnist-rot", "--out", str(out), "--no-progress",
           "--steps", "8", "--set", "batch_size=32", "--set", "val_every=4", "--set", "val_samples=300",
           "--set", "eval_batch_size=100", "--set", "threads=1"]
    env = {**os.environ, "STNLAB_DATA": str(Path(DATA).resolve())}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    p0, p1 = torch.load(spy / "params-rank0.pt"), torch.load(spy / "params-rank1.pt")
    assert torch.equal(p0, p1)
    # the training moved the weights, and rank 0 saved exactly those
    state = load_checkpoint(out / "last.pt")
    model, cfg = load_run(out, which="last")
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    initial = torch.cat([p.detach().reshape(-1) for p in build_model(cfg).parameters()])
    assert torch.equal(flat, p0) and not torch.equal(initial, p0) and state["step"] == 8
    assert len(state["rng"]) == 2 and len(state["running"]) == 2  # every rank's RNG and partial sums
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "config.json", "last.pt", "metrics.jsonl",
                                                     "st_grid_epoch001.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "spy", "worker.py"]
    records = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in records] == [4, 8]  # written once, not once per rank
    assert all(r["samples"] == 4 * 32 for r in records)  # both ranks' shards counted
    assert all(r["st"][0]["samples"] == 300 for r in records)  # ST statistics pooled over the ranks' shards
    assert proc.stdout.count("STN-C0 on mnist-rot: step 8") == 1  # only rank 0 reports
