"""Every bad input of `stnlab train` / `stnlab eval` gives one clear line and exit code 2 (no traceback)."""

import json
import os
from pathlib import Path

import pytest
import torch

import stnlab.train.evaluation as evaluation
from helpers import cli_error
from stnlab.io import write_json
from stnlab.train import build_config, build_model, load_checkpoint, save_checkpoint

torch.set_num_threads(2)

DATA = os.environ.get("STNLAB_DATA")
needs_data = pytest.mark.skipif(not DATA, reason="STNLAB_DATA is not set (real MNIST needed)")
TINY = ["--set", "batch_size=16", "--set", "val_samples=64", "--set", "eval_batch_size=64", "--no-progress"]


def make_run(folder: Path, model: str = "STN-C0", saved_as: str | None = None, **keys) -> Path:
    """A run folder written by hand (config.json + best.pt/last.pt), without training."""
    cfg = build_config({"model": model, "dataset": "mnist-rot", **keys})
    folder.mkdir(parents=True)
    write_json(folder / "config.json", cfg.to_dict())
    other = build_config({"model": saved_as or model, "dataset": "mnist-rot"})
    net = build_model(other)
    for name in ("best.pt", "last.pt"):
        save_checkpoint(folder / name, {"model_name": other.model, "dataset": other.dataset, "step": 0,
                                        "config": other.to_dict(), "model": net.state_dict()})
    return folder


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--model", "STN-X9", "--dataset", "mnist-rot"], "unknown model 'STN-X9'; valid: CNN"),
        (["--model", "CNN", "--dataset", "cifar"], "unknown dataset 'cifar'; valid:"),
        (["--model", "CNN", "--dataset", "mnist", "--set", "colour=red"], "unknown config key 'colour'"),
        (["--model", "CNN", "--dataset", "mnist", "--set", "lr=fast"], "'lr': 'fast' is not a valid float"),
        (["--model", "CNN", "--dataset", "mnist", "--set", "batch_size=0"], "must be a positive number"),
        (["--model", "STN-C0", "--dataset", "mnist", "--set", "family=shear"], "'family' = 'shear': valid: affine,"),
        (["--dataset", "mnist"], "no model given; pass --model"),
        (["--model", "CNN", "--dataset", "mnist", "--config", "nope.yaml"], "cannot read config file nope.yaml"),
    ],
)
def test_bad_train_input(capsys, tmp_path, args, fragment):
    out = tmp_path / "run"
    err = cli_error(capsys, "train", *TINY, "--out", out, *args)
    assert fragment in err
    assert not out.exists()  # nothing written for a rejected command


def test_existing_run_folder_is_never_overwritten_silently(capsys, tmp_path):
    run = make_run(tmp_path / "run")
    before = (run / "best.pt").read_bytes()
    err = cli_error(capsys, "train", "--model", "CNN", "--dataset", "mnist", "--out", run, *TINY)
    assert f"already exists; continue it with: stnlab train --resume --out {run} (or add --force" in err
    assert (run / "best.pt").read_bytes() == before
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("mine")
    err = cli_error(capsys, "train", "--model", "CNN", "--dataset", "mnist", "--out", tmp_path / "notes",
                    "--force", *TINY)
    assert "not a run folder; --force only overwrites run folders" in err
    err = cli_error(capsys, "train", "--out", tmp_path / "notes", "--resume", "--no-progress")
    assert "is not a run folder" in err or "not found" in err


def test_resume_cannot_change_the_model(capsys, tmp_path):
    run = make_run(tmp_path / "run")
    err = cli_error(capsys, "train", "--out", run, "--resume", "--set", "family=rotation", "--no-progress")
    assert "cannot change family when resuming" in err


def test_truncated_checkpoint_names_the_file(capsys, tmp_path):
    run = make_run(tmp_path / "run")
    data = (run / "best.pt").read_bytes()
    (run / "best.pt").write_bytes(data[: len(data) // 2])
    err = cli_error(capsys, "eval", run)
    assert f"checkpoint {run / 'best.pt'} is truncated or corrupt" in err
    (run / "last.pt").write_bytes(b"")
    err = cli_error(capsys, "train", "--out", run, "--resume", "--no-progress")
    assert "last.pt is truncated or corrupt" in err
    assert not (run / "eval.json").exists()


def test_checkpoint_of_another_model(capsys, tmp_path):
    run = make_run(tmp_path / "run", model="STN-C0", saved_as="CNN")
    err = cli_error(capsys, "eval", run, "--checkpoint", "best")
    assert "holds model 'CNN' on 'mnist-rot', but the run expects 'STN-C0'" in err
    run2 = make_run(tmp_path / "run2", model="STN-C0", family="rotation")  # same name, other weights
    save_checkpoint(run2 / "best.pt", {**load_checkpoint(run / "best.pt"), "model_name": "STN-C0",
                                       "model": build_model(build_config({"model": "STN-C0",
                                                                          "dataset": "mnist-rot"})).state_dict()})
    err = cli_error(capsys, "eval", run2)
    assert "does not fit this model" in err


def test_eval_of_a_missing_run(capsys, tmp_path):
    err = cli_error(capsys, "eval", tmp_path / "nothing")
    assert "config.json not found; is" in err


@needs_data
def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(capsys, tmp_path, monkeypatch):
    real, calls = evaluation.compute_loss, {"n": 0}

    def poisoned(logits, labels):
        loss, wrong = real(logits, labels)
        if torch.is_grad_enabled():  # training steps only
            calls["n"] += 1
            if calls["n"] == 6:
                return loss * float("nan"), wrong
        return loss, wrong

    monkeypatch.setattr(evaluation, "compute_loss", poisoned)
    run = tmp_path / "run"
    err = cli_error(capsys, "train", "--model", "STN-C0", "--dataset", "mnist-rot", "--out", run,
                    "--steps", "10", "--set", "ckpt_every=5", *TINY)
    assert "training diverged at step 6 (loss is nan)" in err and "loc_lr_multiplier=0.1" in err
    assert f"{run / 'last.pt'} (the last good checkpoint) is kept" in err
    state = load_checkpoint(run / "last.pt")
    assert state["step"] == 5 and all(torch.isfinite(v).all() for v in state["model"].values())


@needs_data
def test_the_guard_is_read_every_guard_every_steps(capsys, tmp_path, monkeypatch):
    real, calls = evaluation.compute_loss, {"n": 0}

    def poisoned(logits, labels):
        loss, wrong = real(logits, labels)
        if torch.is_grad_enabled():
            calls["n"] += 1
            if calls["n"] == 6:
                return loss * float("inf"), wrong
        return loss, wrong

    monkeypatch.setattr(evaluation, "compute_loss", poisoned)
    err = cli_error(capsys, "train", "--model", "STN-C0", "--dataset", "mnist-rot", "--out", tmp_path / "run",
                    "--steps", "40", "--set", "ckpt_every=0", "--set", "guard_every=4", *TINY)
    assert "training diverged at step 6 (loss is inf)" in err and "no checkpoint was written yet" in err
    assert calls["n"] == 8  # read at step 8, the first multiple of guard_every after the bad step; then stopped


@needs_data
def test_exploding_transform_stops_the_run(capsys, tmp_path):
    err = cli_error(capsys, "train", "--model", "STN-C0", "--dataset", "mnist-rot", "--out", tmp_path / "r",
                    "--steps", "3", "--set", "theta_bound=0.5", *TINY)
    assert "training diverged at step 1 (a transform entry reached |theta| = 1" in err
    assert "no checkpoint was written yet" in err


def test_tensorboard_flag_without_the_package(capsys, tmp_path):
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        out = tmp_path / "run"
        err = cli_error(capsys, "train", *TINY, "--model", "CNN", "--dataset", "mnist", "--out", out, "--tensorboard")
        assert "--tensorboard needs the tensorboard package" in err and not out.exists()
    else:
        pytest.skip("tensorboard is installed, so --tensorboard works")


@needs_data
def test_weights_that_stop_being_finite_are_never_checkpointed(capsys, tmp_path, monkeypatch):
    import stnlab.train.loop as loop

    real = loop.make_optimizer

    def poisoned_optimizer(cfg, model):
        opt, count = real(cfg, model), {"n": 0}
        step = opt.step

        def bad_step(*a, **kw):
            out = step(*a, **kw)
            count["n"] += 1
            if count["n"] == 8:  # right before the checkpoint of step 8
                with torch.no_grad():
                    next(model.parameters()).fill_(float("inf"))
            return out

        opt.step = bad_step
        return opt

    monkeypatch.setattr(loop, "make_optimizer", poisoned_optimizer)
    run = tmp_path / "run"
    err = cli_error(capsys, "train", *TINY, "--model", "CNN", "--dataset", "mnist-rot", "--out", run,
                    "--steps", "20", "--set", "ckpt_every=4")
    assert "training diverged at step 8 (the weights are no longer finite)" in err
    assert load_checkpoint(run / "last.pt")["step"] == 4


@needs_data
def test_a_run_trained_on_cuda_evaluates_on_the_cpu(capsys, tmp_path):
    from stnlab.cli import main

    run = make_run(tmp_path / "run")
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "device": "cuda"}))  # as a GPU run saves it
    assert main(["eval", str(run), "--samples", "100", "--batch-size", "100", "--passes", "1", "--device", "cpu"]) == 0
    res = json.loads((run / "eval.json").read_text())
    assert res["num_samples"] == 100 and 0 <= res["error"] <= 1
    if not torch.cuda.is_available():  # auto: the CPU here
        assert main(["eval", str(run), "--samples", "100", "--batch-size", "100", "--passes", "1"]) == 0
        err = cli_error(capsys, "eval", run, "--device", "cuda")
        assert "no CUDA GPU is visible" in err and "stnlab eval: --device cpu" in err
        assert main(["analyze", "compensation", str(run), "--images", "4", "--values", "0", "90",
                     "--no-progress", "--out", str(tmp_path / "an")]) == 0  # analyze loads onto the CPU


def test_out_that_cannot_be_created_and_duplicated_config_keys(capsys, tmp_path):
    err = cli_error(capsys, "train", "--model", "CNN", "--dataset", "mnist", "--out", "/proc/x/y", *TINY)
    assert "--out /proc/x/y: cannot write in /proc" in err
    (tmp_path / "a.json").write_text('{"model": "CNN", "lr": 0.1, "lr": 0.2}')
    err = cli_error(capsys, "train", "--dataset", "mnist", "--config", tmp_path / "a.json", "--out", tmp_path / "r")
    assert "config file" in err and "key 'lr' appears twice" in err
    (tmp_path / "a.yaml").write_text("model: CNN\nlr: 0.1\nlr: 0.2\n")
    err = cli_error(capsys, "train", "--dataset", "mnist", "--config", tmp_path / "a.yaml", "--out", tmp_path / "r")
    assert "a.yaml:3: key 'lr' appears twice" in err and not (tmp_path / "r").exists()
