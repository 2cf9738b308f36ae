"""The training loop: parameter groups, schedule, guards, records, checkpoints, exact resume, DDP.

Resume exactness (CPU): a checkpoint holds the model, the optimizer, the step (the learning rate is
a pure function of the step, so the schedule needs no other state), every rank's torch RNG state, the
partial sums of the epoch in progress and the metrics history. The data position is
``(epoch, batch) = divmod(step, batches_per_epoch)``, which :meth:`BatchSource.batches` reproduces
bit-exactly with ``start_batch``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from stnlab.errors import StnlabError
from stnlab.train import checkpoint as ckpt
from stnlab.train import distributed as D
from stnlab.train import evaluation as E
from stnlab.train.config import RunConfig, load_config_json
from stnlab.train.metrics import MetricsLog, require_tensorboard
from stnlab.train.prefetch import prefetch

RESUME_KEYS = ("epochs", "steps", "lr", "loc_lr_multiplier", "momentum", "weight_decay", "grad_clip",
               "theta_bound", "val_every", "ckpt_every", "eval_batch_size", "val_samples", "threads", "device",
               "prefetch")


class TrainingDiverged(StnlabError):
    """The loss or a loc-net output left the safe range; the run stopped (last checkpoint kept)."""


def build_model(cfg: RunConfig) -> nn.Module:
    """The model of ``cfg`` (seeded with ``cfg.seed``, so initial weights are reproducible)."""
    from stnlab.models import create_model

    torch.manual_seed(cfg.seed)
    if cfg.model == "CNN":
        return create_model("CNN", cfg.dataset)
    return create_model(cfg.model, cfg.dataset, family=cfg.family, iterations=cfg.iterations,
                        loc_net=cfg.loc_net, loc_lr_multiplier=cfg.loc_lr_multiplier,
                        padding_mode=cfg.padding_mode)


def make_optimizer(cfg: RunConfig, model: nn.Module) -> torch.optim.Optimizer:
    """SGD (momentum) or Adam over the parameter groups: loc-nets at ``lr * loc_lr_multiplier``."""
    from stnlab.nn import parameter_groups

    groups = parameter_groups(model, cfg.lr, cfg.loc_lr_multiplier)
    for g in groups:
        g["lr_scale"] = g["lr"] / cfg.lr
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def lr_at(cfg: RunConfig, step: int, total: int) -> float:
    """The base learning rate at optimizer step ``step`` (0-based) of ``total``."""
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * step / total))
    return cfg.lr * cfg.lr_decay ** sum(step >= round(m * total) for m in cfg.milestones)


def load_run(run_dir: str | Path, which: str = "best") -> tuple[nn.Module, RunConfig]:
    """The trained model (eval mode, CPU) and the :class:`RunConfig` of a run folder.

    ``which`` is ``"best"`` (lowest validation error), ``"last"``, or a path to a checkpoint file.
    """
    model, cfg, _ = load_run_state(run_dir, which)
    return model, cfg


def load_run_state(run_dir: str | Path, which: str = "best") -> tuple[nn.Module, RunConfig, dict[str, Any]]:
    """Like :func:`load_run`, also returning the checkpoint dict."""
    run_dir = Path(run_dir)
    cfg = load_config_json(run_dir / "config.json")
    path = run_dir / f"{which}.pt" if which in ("best", "last") else Path(which)
    state = ckpt.load_checkpoint(path)
    ckpt.check_model_matches(state, path, cfg.model, cfg.dataset)
    model = build_model(cfg)
    ckpt.load_model_state(model, state, path)
    return model.eval(), cfg, state


def _merge_resume(saved: RunConfig, cfg: RunConfig | None) -> RunConfig:
    """The config to resume with: the saved one, plus the changes in ``cfg`` that resuming allows."""
    if cfg is None:
        return saved
    changed = {k: v for k, v in cfg.to_dict().items() if v != saved.to_dict()[k]}
    fixed = sorted(set(changed) - set(RESUME_KEYS))
    if fixed:
        raise StnlabError(f"cannot change {', '.join(fixed)} when resuming (the run was made with "
                          f"{', '.join(f'{k}={saved.to_dict()[k]!r}' for k in fixed)}); start a new run instead")
    return saved.replace(**changed)


def _max_abs_theta(mats: list[torch.Tensor]) -> torch.Tensor:
    if not mats:
        return torch.zeros(())
    return torch.stack([m.detach().abs().amax() for m in mats]).amax()


def train(cfg: RunConfig | None, out_dir: str | Path, *, force: bool = False, resume: bool = False,
          tensorboard: bool = False, progress: bool = True, root: str | Path | None = None,
          cache_dir: str | Path | None = None) -> dict[str, Any]:
    """Train ``cfg`` into the run folder ``out_dir``; return the last metrics record.

    ``resume``: continue ``out_dir`` from its ``last.pt`` (``cfg`` may be None, or change only
    :data:`RESUME_KEYS`). ``force``: overwrite an existing run folder. Works unchanged under torchrun
    (one data shard per rank; only rank 0 writes).
    """
    from stnlab.data import make_source

    out = Path(out_dir)
    if tensorboard:
        require_tensorboard()  # fail before anything is written
    ckpt.prepare_run_folder(out, force=force, resume=resume)
    state = None
    if resume:
        cfg = _merge_resume(load_config_json(out / "config.json"), cfg)
        state = ckpt.load_checkpoint(out / "last.pt")
        ckpt.check_model_matches(state, out / "last.pt", cfg.model, cfg.dataset)
    if cfg is None:
        raise StnlabError("no run config given; pass a RunConfig (or resume=True with an existing run folder)")
    model = build_model(cfg)  # validates the model name before anything is written
    d = D.setup(cfg.device, cfg.threads)
    try:
        return _train(cfg, model, out, d, state, force, tensorboard, progress, make_source, root, cache_dir)
    finally:
        D.teardown(d)


def _train(cfg: RunConfig, model: nn.Module, out: Path, d: D.Dist, state: dict[str, Any] | None,
           force: bool, tensorboard: bool, progress: bool, make_source: Any, root: Any,
           cache_dir: Any) -> dict[str, Any]:
    if cfg.batch_size % d.world_size:
        raise StnlabError(f"batch_size {cfg.batch_size} is not divisible by the {d.world_size} processes; "
                          f"pick a multiple of {d.world_size} (--set batch_size=...)")
    per_rank = cfg.batch_size // d.world_size
    train_src = make_source(cfg.dataset, "train", root=root, cache_dir=cache_dir, seed=cfg.seed)
    val_src = make_source(cfg.dataset, "val", root=root, cache_dir=cache_dir, seed=cfg.data_seed)
    nb = train_src.num_batches(per_rank, drop_last=True, world_size=d.world_size)
    if nb < 1:
        raise StnlabError(f"batch_size {cfg.batch_size} exceeds the {train_src.num_samples} training samples; "
                          f"lower it (--set batch_size=...)")
    total = cfg.steps if cfg.steps is not None else cfg.epochs * nb

    D.barrier(d)  # every rank has checked the folder before rank 0 changes it
    if d.is_main:
        if not state:
            ckpt.clear_run_folder(out) if force else out.mkdir(parents=True, exist_ok=True)
        ckpt.write_json(out / "config.json", cfg.to_dict())

    model.to(d.device)
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model.to(memory_format=fmt)
    optimizer = make_optimizer(cfg, model)
    step, best, running, wall0 = 0, {"val_error": math.inf, "step": 0}, [0.0, 0.0, 0.0], 0.0
    history: list[dict[str, Any]] = []
    if state is not None:
        ckpt.load_model_state(model, state, out / "last.pt")
        fresh = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
        optimizer.load_state_dict(state["optimizer"])
        for group, settings in zip(optimizer.param_groups, fresh):  # the config's hyperparameters win
            group.update(settings)
        step, best = state["step"], dict(state["best"])
        history, wall0 = list(state["history"]), float(state["wall_time"])
        rngs, runs = state["rng"], state["running"]
        if len(runs) != d.world_size and any(r[2] for r in runs):
            raise StnlabError(f"{out / 'last.pt'} was saved mid-epoch by {len(runs)} process(es); resume it "
                              f"with the same number of processes ({len(runs)})")
        ckpt.set_rng_state(rngs[d.rank % len(rngs)])
        running = list(runs[d.rank % len(runs)])
    net: nn.Module = model
    if d.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[d.device.index] if d.device.type == "cuda" else None)
    log = MetricsLog(out / "metrics.jsonl" if d.is_main else None, history,
                     out / "tb" if tensorboard and d.is_main else None)

    def save(name: str) -> None:
        if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
            _diverged(cfg, out, step, "the weights are no longer finite")
        rngs = D.gather_objects(d, ckpt.rng_state())
        runs = D.gather_objects(d, running)
        if d.is_main:
            ckpt.save_checkpoint(out / name, {
                "model_name": cfg.model, "dataset": cfg.dataset, "config": cfg.to_dict(),
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "rng": rngs, "running": runs, "history": log.history, "best": best,
                "wall_time": wall0 + time.perf_counter() - t0,
            })

    def record() -> dict[str, Any]:
        nonlocal running, interval
        now = time.perf_counter()
        val = E.evaluate(model, val_src, batch_size=cfg.eval_batch_size, dist_info=d,
                         channels_last=cfg.channels_last, max_samples=cfg.val_samples)
        loss_sum, wrong, seen = D.all_sum(d, running)
        rec = {"epoch": step / nb, "step": step, "samples": int(seen), "train_loss": loss_sum / seen,
               "train_error": wrong / seen, "val_loss": val["loss"], "val_error": val["error"],
               "lr": lr_at(cfg, step - 1, total), "wall_time": wall0 + now - t0,
               "img_per_s": (step - interval[0]) * cfg.batch_size / max(now - interval[1], 1e-9)}
        running = [0.0, 0.0, 0.0]
        log.append(rec)
        if rec["val_error"] < best["val_error"]:
            best.update(val_error=rec["val_error"], step=step)
            save("best.pt")
        save("last.pt")
        interval = (step, time.perf_counter())  # img/s counts training time only
        return rec

    t0 = time.perf_counter()
    interval = (step, t0)
    show = progress and d.is_main
    overall = tqdm(total=total, initial=step, desc=f"{cfg.model} {cfg.dataset}", unit="step", disable=not show,
                   dynamic_ncols=True)
    last: dict[str, Any] = log.history[-1] if log.history else {}
    net.train()
    try:
        while step < total:
            epoch, b0 = divmod(step, nb)
            bar = tqdm(total=min(nb, total - epoch * nb) * cfg.batch_size, initial=b0 * cfg.batch_size,
                       desc=f"epoch {epoch + 1}", unit="img", unit_scale=True, leave=False, disable=not show,
                       dynamic_ncols=True)
            batches = train_src.batches(per_rank, epoch=epoch, drop_last=True, rank=d.rank,
                                        world_size=d.world_size, start_batch=b0)
            for batch in prefetch(batches, cfg.prefetch):
                lr = lr_at(cfg, step, total)
                for g in optimizer.param_groups:
                    g["lr"] = lr * g["lr_scale"]
                x = batch.images.to(d.device, non_blocking=True).contiguous(memory_format=fmt)
                labels = batch.labels.to(d.device, non_blocking=True)
                logits, mats = net(x, return_transforms=True)
                loss, wrong = E.compute_loss(logits, labels)
                loss_v, theta_v, wrong_v = torch.stack(
                    [loss.detach(), _max_abs_theta(mats).to(loss.device), wrong.sum().to(loss.dtype)]).tolist()
                bad = not math.isfinite(loss_v) or not theta_v <= cfg.theta_bound
                if D.any_rank(d, bad):
                    what = (f"loss is {loss_v}" if not math.isfinite(loss_v) else
                            f"a transform entry reached |theta| = {theta_v:.3g} > theta_bound = {cfg.theta_bound:g}")
                    _diverged(cfg, out, step + 1, what if bad else "another process diverged")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                optimizer.step()
                step += 1
                running = [running[0] + loss_v * len(labels), running[1] + wrong_v, running[2] + len(labels)]
                bar.update(cfg.batch_size)
                overall.update(1)
                if step % nb == 0 or step == total or (cfg.val_every and step % cfg.val_every == 0):
                    last = record()
                    overall.set_postfix(loss=f"{last['train_loss']:.3f}", val_err=f"{last['val_error']:.4f}")
                elif cfg.ckpt_every and step % cfg.ckpt_every == 0:
                    save("last.pt")
                if step >= total:
                    break
            bar.close()
    finally:
        overall.close()
        log.close()
    return last


def _diverged(cfg: RunConfig, out: Path, step: int, what: str) -> None:
    """Raise :class:`TrainingDiverged` naming the step, the cause, the kept checkpoint and the fix."""
    keep = f"{out / 'last.pt'} (the last good checkpoint) is kept" if (out / "last.pt").exists() else \
        "no checkpoint was written yet"
    msg = (f"training diverged at step {step} ({what}); {keep}; "
           f"lower the loc-net learning rate, e.g. --set loc_lr_multiplier={cfg.loc_lr_multiplier * 0.1:g} "
           f"(or lr), then --resume or --force")
    raise TrainingDiverged(msg)


__all__ = ["RESUME_KEYS", "TrainingDiverged", "build_model", "load_run", "load_run_state", "lr_at",
           "make_optimizer", "train"]
