"""Loss, error and evaluation: mean +- std over transformed passes, per-class error, ``eval.json``.

For the MNIST protocols a test "pass" ``p`` is epoch ``p`` of the test source (each pass draws fresh
transforms); the papers' test error is the mean over 10 passes. SVHN (logits ``B x 5 x 11``) uses the
sum of the five per-position cross-entropies as loss and the *sequence* error (any position wrong);
its "classes" for the per-class error are the sequence lengths (number of non-blank positions).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stnlab.data import make_source
from stnlab.data.spec import test_passes
from stnlab.errors import StnlabError
from stnlab.io import read_json, write_json
from stnlab.options import options_of
from stnlab.train.checkpoint import load_checkpoint, lock_holder
from stnlab.train.distributed import Dist, all_sum, setup, teardown
from stnlab.train.precision import autocast
from stnlab.train.run import load_run_state

BatchHook = Callable[[list[Tensor], "dict[str, Tensor] | None"], None]



def compute_loss(logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """``(mean loss, per-sample wrong flags (B,) bool)`` for ``B x K`` or ``B x heads x K`` logits."""
    if logits.dim() == 3:  # B x heads x K: sum of the heads' cross-entropies, sequence error
        b, h, k = logits.shape
        ce = F.cross_entropy(logits.reshape(b * h, k), labels.reshape(b * h), reduction="none")
        loss = ce.view(b, h).sum(1).mean()
        wrong = (logits.argmax(-1) != labels).any(1)  # B
        return loss, wrong
    return F.cross_entropy(logits, labels), logits.argmax(1) != labels


def class_of(labels: Tensor, num_classes: int) -> tuple[Tensor, int]:
    """The class used for per-class error: the label, or for sequences the number of non-blank digits."""
    if labels.dim() == 2:  # blank = the last class
        return (labels != num_classes - 1).sum(1), labels.shape[1] + 1
    return labels, num_classes


@dataclass(frozen=True)
class _PassSetup:
    """How :func:`_pass_counts` runs: batch size, process, layout, sample limit (global batches), precision,
    and an optional callback ``on_batch(matrices, params)`` that receives each batch's ST matrices."""

    batch_size: int
    d: Dist
    channels_last: bool
    limit: float
    precision: str
    on_batch: BatchHook | None


def _sharded_batches(source: Any, epoch: int, s: _PassSetup) -> Iterator[tuple[int, Any]]:
    """``(global batch index, batch)`` of this rank's share of one pass (rank 0 also takes the rest)."""
    d, want = s.d, s.on_batch is not None
    sharded = source.batches(s.batch_size, epoch=epoch, shuffle=False, rank=d.rank, world_size=d.world_size,
                             return_params=want)
    streams = [((d.rank + k * d.world_size, b) for k, b in enumerate(sharded))]
    if d.is_main and d.world_size > 1:  # the batches left out by the even sharding
        done = source.num_batches(s.batch_size, world_size=d.world_size) * d.world_size
        rest = source.batches(s.batch_size, epoch=epoch, shuffle=False, start_batch=done, return_params=want)
        streams.append((done + k, b) for k, b in enumerate(rest))
    for stream in streams:
        for g, batch in stream:
            if g >= s.limit:  # global batch indices rise along each stream
                break
            yield g, batch


def _pass_counts(model: nn.Module, source: Any, epoch: int, s: _PassSetup) -> Tensor:
    """float64 ``[loss sum, count per class..., wrong per class...]`` of one pass, summed over ranks.

    Only global batches ``< s.limit`` are used (the first ``limit * batch_size`` samples)."""
    n_cls = class_of(torch.zeros((1, *source.label_shape), dtype=torch.long), source.num_classes)[1]
    acc = torch.zeros(1 + 2 * n_cls, dtype=torch.float64)
    fmt = torch.channels_last if s.channels_last else torch.contiguous_format
    for _, batch in _sharded_batches(source, epoch, s):
        x = batch.images.to(s.d.device, non_blocking=True).contiguous(memory_format=fmt)
        labels = batch.labels.to(s.d.device)
        with autocast(s.d.device, s.precision):
            if s.on_batch is None:
                logits = model(x)
            else:
                logits, mats = model(x, return_transforms=True)
                s.on_batch(mats, batch.params)
        loss, wrong = compute_loss(logits.float(), labels)
        cls, _ = class_of(labels, source.num_classes)
        counts = torch.bincount(cls, minlength=n_cls).double()  # n_cls
        wrongs = torch.bincount(cls, weights=wrong.double(), minlength=n_cls)  # n_cls
        acc += torch.cat([(loss.double() * len(labels)).view(1), counts, wrongs]).cpu()
    return torch.tensor(all_sum(s.d, acc.tolist()), dtype=torch.float64)


@dataclass(frozen=True)
class EvalOptions:
    """How :func:`evaluate` runs: ``passes`` over the data (epochs 0..passes-1), ``batch_size``, ``dist_info``
    (torchrun), ``channels_last``; ``max_samples`` > 0 uses only the first ``max_samples`` samples (rounded up
    to whole batches); ``precision`` ``bf16`` runs the forward passes under autocast (the loss in fp32);
    ``on_batch``, when given, is called with each batch's ST matrices and its data params
    (``return_params=True``)."""

    passes: int = 1
    batch_size: int = 500
    dist_info: Dist | None = None
    channels_last: bool = False
    max_samples: int = 0
    precision: str = "fp32"
    on_batch: BatchHook | None = None


@torch.inference_mode()
def evaluate(model: nn.Module, source: Any, options: EvalOptions | None = None, **keywords: Any) -> dict[str, Any]:
    """Evaluate ``model`` on every sample of ``source`` (``options`` / ``keywords``: :class:`EvalOptions`).

    Returns ``error`` (mean over passes), ``error_std`` (sample std over passes; 0 for one pass),
    ``pass_errors``, ``loss``, ``per_class_error`` (class -> error over all passes), ``num_samples``.
    Under torchrun every rank evaluates its shard and the counts are summed.
    """
    o = options_of(EvalOptions, options, keywords, "evaluate")
    passes = o.passes
    d = o.dist_info or Dist(device=next(model.parameters()).device)
    limit = math.ceil(o.max_samples / o.batch_size) if o.max_samples > 0 else math.inf
    setup = _PassSetup(o.batch_size, d, o.channels_last, limit, o.precision, o.on_batch)
    was_training = model.training
    model.eval()
    try:
        totals = [_pass_counts(model, source, p, setup) for p in range(passes)]
    finally:
        model.train(was_training)
    n_cls = (len(totals[0]) - 1) // 2
    errors = [float(t[1 + n_cls:].sum() / t[1:1 + n_cls].sum()) for t in totals]
    mean = sum(errors) / passes
    std = math.sqrt(sum((e - mean) ** 2 for e in errors) / (passes - 1)) if passes > 1 else 0.0
    total = torch.stack(totals).sum(0)
    count, wrong = total[1:1 + n_cls], total[1 + n_cls:]
    per_class = {str(c): float(wrong[c] / count[c]) for c in range(n_cls) if count[c] > 0}
    return {
        "error": mean,
        "error_std": std,
        "pass_errors": errors,
        "loss": float(total[0] / count.sum()),
        "per_class_error": per_class,
        "num_samples": int(totals[0][1:1 + n_cls].sum()),
        "passes": passes,
    }


def run_progress(run_dir: Path, last: dict[str, Any] | None = None) -> dict[str, Any]:
    """Where the run stands: ``run_step`` (of ``last.pt``), ``run_total`` (its planned steps; None for a
    checkpoint older than that record), ``training`` (a process trains it now) and ``final`` (finished and not
    training: an evaluation of it is the run's result)."""
    if last is None:
        last = load_checkpoint(run_dir / "last.pt") if (run_dir / "last.pt").is_file() else {}
    step, total = last.get("step"), last.get("total")
    training = lock_holder(run_dir) is not None
    done = step is None or total is None or step >= total  # without last.pt or its total: as far as known
    return {"run_step": step, "run_total": total, "training": training, "final": done and not training}


def _check_overwrite(path: Path, progress: dict[str, Any]) -> None:
    """Refuse to replace the evaluation of a finished run (``final``; an old eval.json without the key counts
    as one) by that of an unfinished one."""
    if progress["final"] or not path.is_file():
        return
    old = read_json(path)
    if isinstance(old, dict) and old.get("final", True):
        state = "is training" if progress["training"] else "is stopped"
        raise StnlabError(f"{path} holds the evaluation of the finished run (step {old.get('step')}); the run "
                          f"{state} at step {progress['run_step']} of {progress['run_total']}, so this one would be "
                          f"intermediate: wait for the run to finish, or move {path.name} away to keep both")


@dataclass(frozen=True)
class RunEvalOptions:
    """What :func:`evaluate_run` evaluates and how: ``split``; ``which`` checkpoint (``best``, ``last`` or a
    path); ``passes`` (default: the data set's test passes, 10 under a transforming protocol, else 1);
    ``batch_size`` (default: the run's); ``root`` / ``cache_dir`` of the data; ``write`` ``eval.json``;
    ``max_samples`` > 0: only the first that many samples of the split; ``device``: ``auto`` (CUDA if visible,
    else CPU), ``cpu`` or ``cuda``, whatever device the run was trained on."""

    split: str = "test"
    which: str = "best"
    passes: int | None = None
    batch_size: int | None = None
    root: str | Path | None = None
    cache_dir: str | Path | None = None
    write: bool = True
    max_samples: int = 0
    device: str = "auto"


def evaluate_run(run_dir: str | Path, options: RunEvalOptions | None = None, **keywords: Any) -> dict[str, Any]:
    """Evaluate a run folder's checkpoint on ``split``; write ``eval.json`` there (atomically) and return it,
    with where the run stands (:func:`run_progress`: ``final`` False for a run still training or stopped early;
    an ``eval.json`` of the finished run is never replaced by such an intermediate one).

    ``options`` / ``keywords``: :class:`RunEvalOptions`; the forward passes use the run's ``precision``.
    """
    o = options_of(RunEvalOptions, options, keywords, "evaluate_run")
    split, which, write = o.split, o.which, o.write
    run_dir = Path(run_dir)
    model, cfg, state = load_run_state(run_dir, which=which)
    progress = run_progress(run_dir, state if which == "last" else None)
    if write:
        _check_overwrite(run_dir / "eval.json", progress)
    d = setup(o.device, cfg.threads)
    try:
        model.to(d.device)
        if cfg.channels_last:
            model.to(memory_format=torch.channels_last)
        source = make_source(cfg.dataset, split, root=o.root, cache_dir=o.cache_dir, seed=cfg.data_seed,
                             **cfg.data_options()).to(d.device)
        passes = o.passes if o.passes is not None else test_passes(cfg.dataset, cfg.protocol or "none")
        result = evaluate(model, source, passes=passes, batch_size=o.batch_size or cfg.eval_batch_size,
                          dist_info=d, channels_last=cfg.channels_last, max_samples=o.max_samples,
                          precision=cfg.precision)
    finally:
        teardown(d)
    out = {"run": str(run_dir), "model": cfg.model, "dataset": cfg.dataset, "checkpoint": which,
           "step": state["step"], "split": split, **progress, **result}
    if write and d.is_main:
        write_json(run_dir / "eval.json", out)
    return out


__all__ = ["EvalOptions", "RunEvalOptions", "class_of", "compute_loss", "evaluate", "evaluate_run", "run_progress"]
