"""One training step: no host synchronisation (GPU-clean), the device-side guard, bf16 precision."""

import math
import os

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from stnlab.train import build_config, build_model, load_checkpoint, train
from stnlab.train.step import Guard, StepSetup, make_optimizer, train_step


class NoHostReads(TorchDispatchMode):
    """Fails on every op that copies a tensor value to the host (``.item()``, ``bool(t)``, ``float(t)``)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            raise AssertionError("host synchronisation (.item()/bool()/float() on a tensor) inside the step")
        return func(*args, **(kwargs or {}))


def setup_for(model_name: str, **keys) -> tuple[StepSetup, torch.Tensor, torch.Tensor]:
    cfg = build_config({"model": model_name, "dataset": "mnist-rot", **keys})
    model = build_model(cfg)
    setup = StepSetup(model, make_optimizer(cfg, model), Guard(cfg.theta_bound, torch.device("cpu")),
                      torch.device("cpu"), cfg.precision, grad_clip=1.0, identity_weight=cfg.st_identity_weight,
                      log_scale_bound=cfg.st_log_scale_bound)
    g = torch.Generator().manual_seed(0)
    return setup, torch.rand(8, 1, 28, 28, generator=g), torch.randint(0, 10, (8,), generator=g)


@pytest.mark.parametrize("model_name", ["CNN", "STN-C0", "STN-C1", "STN-SL1", "STN-DL1"])
def test_a_training_step_never_reads_a_tensor_on_the_host(model_name, monkeypatch):
    setup, x, labels = setup_for(model_name, st_identity_weight=0.1, st_log_scale_bound=1.0)
    for name in ("tolist", "numpy", "item", "__bool__", "__float__", "__int__"):  # the Python-level reads too
        monkeypatch.setattr(torch.Tensor, name, _forbidden(name), raising=False)
    with NoHostReads():
        result = train_step(setup, x, labels, step=1)
    monkeypatch.undo()
    assert math.isfinite(float(result.loss)) and 0 <= int(result.wrong) <= 8
    assert setup.guard.read() is None


def test_the_no_sync_check_does_catch_a_host_read():
    setup, x, labels = setup_for("CNN")
    with pytest.raises(AssertionError, match="host synchronisation"), NoHostReads():
        bool(x.sum() > 0)


def _forbidden(name):
    def method(*args, **kwargs):
        raise AssertionError(f"host synchronisation (Tensor.{name}) inside the step")

    return method


def test_the_guard_names_the_first_bad_step_and_its_cause():
    guard = Guard(10.0, torch.device("cpu"))
    guard.update(1, torch.tensor(0.5), torch.tensor(1.0))
    assert guard.read() is None
    guard.update(2, torch.tensor(0.5), torch.tensor(12.0))
    guard.update(3, torch.tensor(float("nan")), torch.tensor(1.0))
    first = guard.read()
    assert first.step == 2 and "reached |theta| = 12 > theta_bound = 10" in first.what
    nan_guard = Guard(10.0, torch.device("cpu"))
    nan_guard.update(4, torch.tensor(float("inf")), torch.tensor(float("nan")))
    assert nan_guard.read() == (4, "loss is inf")


def test_bf16_step_is_close_to_fp32_and_keeps_fp32_weights_and_matrices():
    torch.manual_seed(0)
    (s32, x, labels), (s16, _, _) = setup_for("STN-C0"), setup_for("STN-C0", precision="bf16")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, (mat,) = s16.net(x, return_transforms=True)
        _, (feature_mat,) = setup_for("STN-C1")[0].net(x, return_transforms=True)  # warps bf16 feature maps
    assert logits.dtype == torch.bfloat16 and mat.dtype == torch.float32  # the ST geometry stays fp32
    assert feature_mat.dtype == torch.float32
    r32, r16 = train_step(s32, x, labels, 1), train_step(s16, x, labels, 1)
    assert r16.loss.dtype == torch.float32 and math.isfinite(float(r16.loss))
    assert float(r16.loss) == pytest.approx(float(r32.loss), rel=0.02)  # same weights at init
    assert all(p.dtype == torch.float32 for p in s16.net.parameters())
    assert any(not torch.equal(p, q) for p, q in zip(s16.net.parameters(), s32.net.parameters()))  # it trained


@pytest.mark.skipif(not os.environ.get("STNLAB_DATA"), reason="STNLAB_DATA is not set (real MNIST needed)")
def test_a_bf16_run_writes_fp32_checkpoints(tmp_path):
    cfg = build_config({"model": "STN-C1", "dataset": "mnist-rot", "steps": 3, "batch_size": 16, "val_samples": 100,
                        "eval_batch_size": 100, "precision": "bf16", "threads": 2})
    rec = train(cfg, tmp_path / "run", progress=False)
    assert math.isfinite(rec["train_loss"]) and rec["val_error"] < 1 and rec["st"][0]["samples"] == 100
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert {v.dtype for v in state["model"].values() if v.is_floating_point()} == {torch.float32}


def test_st_regularisers_are_off_by_default_and_measure_what_they_say():
    from stnlab.geometry import rotation_matrix, scale_matrix
    from stnlab.train.step import st_penalty

    eye = torch.eye(3).expand(4, 3, 3)
    assert st_penalty([eye], 0.0, 0.0) is None  # off: nothing added to the loss
    assert float(st_penalty([eye], 2.0, 1.0)) == 0.0
    turned = rotation_matrix(torch.full((4,), 0.3))
    expected = 2.0 * float((turned - torch.eye(3)).pow(2).sum((1, 2)).mean())
    assert float(st_penalty([turned], 2.0, 0.0)) == pytest.approx(expected)
    zoomed = scale_matrix(torch.full((4,), 8.0))  # log-scale ln 8, bound ln 4: penalty (ln 2)^2
    assert float(st_penalty([zoomed], 0.0, math.log(4))) == pytest.approx(math.log(2) ** 2, rel=1e-5)
    assert float(st_penalty([scale_matrix(torch.full((4,), 3.0))], 0.0, math.log(4))) == 0.0  # inside the bound


def test_loc_grad_clip_bounds_the_loc_nets_step_only():
    """With momentum 0, a step moves each parameter by lr * (clipped) gradient: the loc-net's update norm is
    lr * loc_lr_multiplier * loc_grad_clip, the classifier's is the unclipped one."""
    def step_deltas(**keys):
        torch.manual_seed(0)
        cfg = build_config({"model": "STN-C0", "dataset": "mnist-rot", "momentum": 0.0, "lr": 0.1, **keys})
        model = build_model(cfg)
        opt = make_optimizer(cfg, model)
        setup = StepSetup(model, opt, Guard(cfg.theta_bound, torch.device("cpu")), torch.device("cpu"),
                          loc_grad_clip=cfg.loc_grad_clip)
        before = [[p.detach().clone() for p in g["params"]] for g in opt.param_groups]
        g = torch.Generator().manual_seed(0)
        train_step(setup, torch.rand(8, 1, 28, 28, generator=g), torch.randint(0, 10, (8,), generator=g), step=1)
        return {grp["name"]: torch.sqrt(sum((p.detach() - b).pow(2).sum() for p, b in zip(grp["params"], old)))
                for grp, old in zip(opt.param_groups, before)}

    free, clipped = step_deltas(), step_deltas(loc_grad_clip=1e-3)
    assert free["st0"] > 1e-3 * 0.1 * 10  # without the clip the loc-net's step is far larger than the bound
    assert float(clipped["st0"]) == pytest.approx(1e-3 * 0.1, rel=1e-3)  # lr x multiplier 1 x clip norm
    assert torch.equal(free["classifier"], clipped["classifier"])  # the classifier's step is untouched
