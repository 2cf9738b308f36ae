"""One optimizer step, the optimizer and its schedule, and the device-side divergence guard.

Nothing in :func:`train_step` reads a tensor on the host (no ``.item()``, ``.tolist()``, ``bool(t)``):
the loss, the error count and the guard stay on the training device, and the loop reads them only at
logging/checkpoint boundaries and every ``guard_every`` steps, so a GPU never waits for the host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from stnlab.nn import parameter_groups
from stnlab.train import evaluation as E
from stnlab.train.config import RunConfig
from stnlab.train.precision import autocast


def make_optimizer(cfg: RunConfig, model: nn.Module) -> torch.optim.Optimizer:
    """SGD (momentum) or Adam over the parameter groups: loc-nets at ``lr * loc_lr_multiplier``."""
    groups = parameter_groups(model, cfg.lr, cfg.loc_lr_multiplier)
    for g in groups:
        g["lr_scale"] = g["lr"] / cfg.lr
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def lr_at(cfg: RunConfig, step: int, total: int, steps_per_epoch: int | None = None) -> float:
    """The base learning rate at optimizer step ``step`` (0-based) of ``total``; with ``cfg.lr_warmup`` > 0
    (epochs of ``steps_per_epoch`` steps) the schedule's value times ``min(1, (step + 1) / warm-up steps)``."""
    if cfg.schedule == "constant":
        lr = cfg.lr
    elif cfg.schedule == "cosine":
        lr = cfg.lr * 0.5 * (1 + math.cos(math.pi * step / total))
    else:
        lr = cfg.lr * cfg.lr_decay ** sum(step >= round(m * total) for m in cfg.milestones)
    if cfg.lr_warmup > 0 and steps_per_epoch:
        lr *= min(1.0, (step + 1) / max(1.0, cfg.lr_warmup * steps_per_epoch))
    return lr


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group to ``lr`` times its ``lr_scale`` (the loc-net multiplier)."""
    for g in optimizer.param_groups:
        g["lr"] = lr * g["lr_scale"]


class Divergence(NamedTuple):
    """The first step that left the safe range on this process, and why (read on the host)."""

    step: int
    what: str


class Guard:
    """Device-side divergence guard: remembers the first step whose loss was not finite or whose largest
    transform entry ``|theta|`` exceeded ``bound`` (or was not finite), with the offending values.

    :meth:`update` never synchronises; :meth:`read` does (call it only at boundaries).
    """

    def __init__(self, bound: float, device: torch.device) -> None:
        self.bound = bound
        self.first_bad = torch.full((), -1, dtype=torch.long, device=device)
        self.loss = torch.zeros((), device=device)
        self.theta = torch.zeros((), device=device)

    def update(self, step: int, loss: Tensor, theta: Tensor) -> None:
        """Record ``step`` (1-based) if it is the first bad one."""
        bad = ~torch.isfinite(loss) | ~(theta <= self.bound)
        new = bad & (self.first_bad < 0)
        self.first_bad = torch.where(new, step, self.first_bad)
        self.loss = torch.where(new, loss.float(), self.loss)
        self.theta = torch.where(new, theta.float(), self.theta)

    def read(self) -> Divergence | None:
        """The first bad step and its cause, or None (one host read)."""
        step, loss, theta = torch.stack([self.first_bad.double(), self.loss.double(), self.theta.double()]).tolist()
        if step < 0:
            return None
        if not math.isfinite(loss):
            return Divergence(int(step), f"loss is {loss}")
        return Divergence(int(step), f"a transform entry reached |theta| = {theta:.3g} > theta_bound = {self.bound:g}")


@dataclass
class StepSetup:
    """What every step needs besides the batch."""

    net: nn.Module  # the model, or its DistributedDataParallel wrapper
    optimizer: torch.optim.Optimizer
    guard: Guard
    device: torch.device
    precision: str = "fp32"
    grad_clip: float = 0.0
    identity_weight: float = 0.0
    log_scale_bound: float = 0.0
    loc_grad_clip: float = 0.0


class StepResult(NamedTuple):
    """Device tensors of one step: mean classification loss (fp32), number wrong, largest ``|theta|``."""

    loss: Tensor
    wrong: Tensor
    max_abs_theta: Tensor


def max_abs_theta(mats: list[Tensor], device: torch.device) -> Tensor:
    """The largest ``|entry|`` over the ST matrices (0 without STs), detached, on ``device``."""
    if not mats:
        return torch.zeros((), device=device)
    return torch.stack([m.detach().abs().amax() for m in mats]).amax()


def st_penalty(mats: list[Tensor], identity_weight: float, log_scale_bound: float) -> Tensor | None:
    """The optional ST regularisers (None when both are off), summed over the STs, mean over the batch:
    ``identity_weight * ||M - I||_F^2`` and ``relu(|log-scale| - log_scale_bound)^2`` (``log-scale`` =
    ``log sqrt|det|`` of the 2x2 part)."""
    terms = []
    for m in mats:
        if identity_weight > 0:
            eye = torch.eye(3, dtype=m.dtype, device=m.device)
            terms.append(identity_weight * (m - eye).pow(2).sum((1, 2)).mean())
        if log_scale_bound > 0:
            det = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
            log_scale = 0.5 * det.abs().clamp_min(1e-12).log()
            terms.append(torch.relu(log_scale.abs() - log_scale_bound).pow(2).mean())
    return torch.stack(terms).sum() if terms else None


def train_step(s: StepSetup, x: Tensor, labels: Tensor, step: int) -> StepResult:
    """Forward (under ``s.precision``), loss in fp32, guard update, backward, clip, optimizer step.

    ``step`` is the 1-based number of this step (what the guard reports). No host synchronisation.
    """
    with autocast(s.device, s.precision):
        logits, mats = s.net(x, return_transforms=True)
    loss, wrong = E.compute_loss(logits.float(), labels)
    theta = max_abs_theta(mats, loss.device)
    s.guard.update(step, loss.detach(), theta)
    penalty = st_penalty(mats, s.identity_weight, s.log_scale_bound)
    s.optimizer.zero_grad(set_to_none=True)
    (loss if penalty is None else loss + penalty).backward()
    if s.loc_grad_clip > 0:  # each ST's own parameters (make_optimizer's "st<i>" groups)
        for group in s.optimizer.param_groups:
            if str(group.get("name", "")).startswith("st"):
                nn.utils.clip_grad_norm_(group["params"], s.loc_grad_clip)
    if s.grad_clip > 0:
        nn.utils.clip_grad_norm_(s.net.parameters(), s.grad_clip)
    s.optimizer.step()
    return StepResult(loss.detach(), wrong.sum(), theta)


__all__ = ["Divergence", "Guard", "StepResult", "StepSetup", "lr_at", "make_optimizer", "max_abs_theta",
           "set_lr", "st_penalty", "train_step"]
