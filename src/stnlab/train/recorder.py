"""The bookkeeping of a training run: running sums, validation records, guard reads and checkpoints.

:class:`Recorder` is the only place that reads training tensors on the host: at a record (epoch end,
``val_every``), at a checkpoint (``ckpt_every``) and every ``guard_every`` steps.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from stnlab.errors import StnlabError
from stnlab.train import checkpoint as ckpt
from stnlab.train import distributed as D
from stnlab.train import evaluation as E
from stnlab.train.config import RunConfig
from stnlab.train.diagnostics import STCollector, st_geometries, st_places, st_warnings
from stnlab.train.interrupt import resume_command
from stnlab.train.metrics import MetricsLog
from stnlab.train.st_grid import st_grid_figure, write_st_grid
from stnlab.train.step import Divergence, Guard, StepResult, lr_at


class TrainingDiverged(StnlabError):
    """The loss or a loc-net output left the safe range; the run stopped (last checkpoint kept)."""


class TrainingAtChance(StnlabError):
    """The validation error sat at chance for ``chance_stop`` validations in a row; the run stopped."""


@dataclass
class TrainJob:
    """What one training process works on (fixed for the whole run)."""

    cfg: RunConfig
    out: Path
    d: D.Dist
    model: nn.Module
    optimizer: torch.optim.Optimizer
    train_src: Any
    val_src: Any
    per_rank: int  # images per process and step
    steps_per_epoch: int
    total: int  # optimizer steps of the whole run


@dataclass
class Progress:
    """Where a run stands (all of it is in a checkpoint): step, best record, history, time, running sums."""

    step: int = 0
    best: dict[str, Any] = field(default_factory=lambda: {"val_error": math.inf, "step": 0})
    history: list[dict[str, Any]] = field(default_factory=list)
    wall_time: float = 0.0
    running: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # loss sum, wrong, seen


class Recorder:
    """Accumulates the steps of the epoch in progress, writes records and checkpoints (rank 0 only)."""

    def __init__(self, job: TrainJob, log: MetricsLog, guard: Guard, progress: Progress) -> None:
        self.job, self.log, self.guard = job, log, guard
        self.best = dict(progress.best)
        self.wall0 = progress.wall_time
        self.sums = torch.tensor(progress.running[:2], dtype=torch.float64, device=job.d.device)
        self.seen = int(progress.running[2])
        self.t0 = time.perf_counter()
        self.interval = (progress.step, self.t0)  # img/s counts training time only
        self.saved_step: int | None = progress.step or None  # the step of last.pt (a resumed run starts at it)

    def add(self, result: StepResult, count: int) -> None:
        """Add one step's loss and error count (on the device; no host read)."""
        self.sums += torch.stack([result.loss.double() * count, result.wrong.double()])
        self.seen += count

    def check(self, step: int) -> None:
        """Read the guard (every process); raise :class:`TrainingDiverged` naming the first bad step."""
        found = [f for f in D.gather_objects(self.job.d, self.guard.read()) if f is not None]
        if found:
            first = min(found, key=lambda f: f.step)  # type: ignore[union-attr]
            raise diverged(self.job.cfg, self.job.out, first)  # type: ignore[arg-type]
        if not bool(torch.stack([torch.isfinite(p).all() for p in self.job.model.parameters()]).all()):
            raise diverged(self.job.cfg, self.job.out, Divergence(step, "the weights are no longer finite"))

    def save(self, name: str, step: int) -> None:
        """Write checkpoint ``name`` (after the guard and the weights are checked)."""
        self.check(step)
        j = self.job
        rngs = D.gather_objects(j.d, ckpt.rng_state())
        runs = D.gather_objects(j.d, [*self.sums.tolist(), float(self.seen)])
        if j.d.is_main:
            ckpt.save_checkpoint(j.out / name, {
                "model_name": j.cfg.model, "dataset": j.cfg.dataset, "config": j.cfg.to_dict(),
                "model": j.model.state_dict(), "optimizer": j.optimizer.state_dict(), "step": step,
                "rng": rngs, "running": runs, "history": self.log.history, "best": self.best, "total": j.total,
                "wall_time": self.wall0 + time.perf_counter() - self.t0,
            })
        if name == "last.pt":
            self.saved_step = step

    def record(self, step: int) -> dict[str, Any]:
        """Validate, append a metrics record (with the ST statistics), checkpoint; return the record."""
        j, now = self.job, time.perf_counter()
        self.check(step)  # no validation time spent on a diverged run
        collector = STCollector(st_places(j.model), st_geometries(j.model, j.val_src.image_shape))
        val = E.evaluate(j.model, j.val_src, batch_size=j.cfg.eval_batch_size, dist_info=j.d,
                         channels_last=j.cfg.channels_last, max_samples=j.cfg.val_samples,
                         precision=j.cfg.precision, on_batch=collector.add if collector.places else None)
        loss_sum, wrong, seen = D.all_sum(j.d, [*self.sums.tolist(), float(self.seen)])
        rec = {"epoch": step / j.steps_per_epoch, "step": step, "samples": int(seen),
               "train_loss": loss_sum / seen, "train_error": wrong / seen, "val_loss": val["loss"],
               "val_error": val["error"], "lr": lr_at(j.cfg, step - 1, j.total, j.steps_per_epoch),
               "wall_time": self.wall0 + now - self.t0,
               "img_per_s": (step - self.interval[0]) * j.cfg.batch_size / max(now - self.interval[1], 1e-9)}
        if collector.places:
            rec["st"] = collector.summary(j.d)
            rec["st_warnings"] = st_warnings(self.log.history, rec, j.cfg.st_warn_after)
            for w in rec["st_warnings"] if j.d.is_main else []:
                tqdm.write(f"stnlab: warning: step {step}: {w['message']}", file=sys.stderr)
        self.sums.zero_()
        self.seen = 0
        self.log.append(rec)
        if j.d.is_main and self._grid_due(step):
            self._write_grid(step)
        if rec["val_error"] < self.best["val_error"]:
            self.best.update(val_error=rec["val_error"], step=step)
            self.save("best.pt", step)
        self.save("last.pt", step)
        self.interval = (step, time.perf_counter())
        at_chance(j, self.log.history)
        return rec

    def _grid_due(self, step: int) -> bool:
        """An ST grid at every ``st_grid_every``-th epoch end and at the last step."""
        every, nb = self.job.cfg.st_grid_every, self.job.steps_per_epoch
        return every > 0 and (step == self.job.total or (step % nb == 0 and (step // nb) % every == 0))

    def _write_grid(self, step: int) -> None:
        """``st_grid_epochNNN.png`` (NNN: the epoch in progress, 1-based) and the TensorBoard image."""
        j = self.job
        title = (f"{j.cfg.model} on {j.cfg.dataset}, epoch {step / j.steps_per_epoch:.2f} (step {step}): "
                 f"input (red: region the ST samples) | ST output")
        fig = st_grid_figure(j.model, j.val_src, title, j.cfg.precision)
        if fig is not None:
            self.log.add_figure("st_grid", fig, step)
            write_st_grid(fig, j.out / f"st_grid_epoch{math.ceil(step / j.steps_per_epoch):03d}.png")


def chance_error(source: Any) -> float:
    """The error of guessing: ``1 - 1/K`` for K classes (``1 - K**-heads`` for a sequence of ``heads`` labels)."""
    heads = math.prod(getattr(source, "label_shape", ()) or (1,))
    return 1.0 - source.num_classes ** -heads


def at_chance(job: TrainJob, history: list[dict[str, Any]]) -> None:
    """Raise :class:`TrainingAtChance` when the last ``chance_stop`` validations all sit at chance (an error of
    at least 95 % of :func:`chance_error`); ``chance_stop`` 0 never does."""
    cfg, n = job.cfg, job.cfg.chance_stop
    chance, recent = chance_error(job.val_src), history[-n:] if n > 0 else []
    if len(recent) < max(n, 1) or any(r["val_error"] < 0.95 * chance for r in recent):
        return
    errors = [r["val_error"] for r in recent]
    raise TrainingAtChance(
        f"training sits at chance: validation error {min(errors):.3f}-{max(errors):.3f} at the last {n} "
        f"validations (steps {recent[0]['step']}-{recent[-1]['step']}; chance {chance:.3f}); stopped, "
        f"{job.out / 'last.pt'} kept; start again with a lower learning rate (lr={cfg.lr:g} now): the same command "
        f"with --set lr={cfg.lr / 10:g} --force, or train on regardless: {resume_command(job.out)} --no-chance-stop")


def diverged(cfg: RunConfig, out: Path, found: Divergence) -> TrainingDiverged:
    """The :class:`TrainingDiverged` naming the step, the cause, the kept checkpoint and the fix."""
    keep = f"{out / 'last.pt'} (the last good checkpoint) is kept" if (out / "last.pt").exists() else \
        "no checkpoint was written yet"
    lower = f"--set lr={cfg.lr * 0.1:g}" if cfg.model == "CNN" else \
        f"--set loc_lr_multiplier={cfg.loc_lr_multiplier * 0.1:g}"
    go_on = (f"{resume_command(out)} --force-recipe {lower}" if (out / "last.pt").exists() else
             f"the same command with {lower} --force")
    rate = "learning rate" if cfg.model == "CNN" else "loc-net learning rate (or lr)"
    return TrainingDiverged(f"training diverged at step {found.step} ({found.what}); {keep}; lower the {rate} "
                            f"and go on: {go_on}")


__all__ = ["Progress", "Recorder", "TrainJob", "TrainingAtChance", "TrainingDiverged", "at_chance", "chance_error",
           "diverged"]
