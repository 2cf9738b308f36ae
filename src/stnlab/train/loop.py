"""The training loop: setup, restore, the epoch loop, and torchrun/DDP.

Resume exactness (CPU): a checkpoint holds the model, the optimizer, the step (the learning rate is
a pure function of the step, so the schedule needs no other state), every rank's torch RNG state, the
partial sums of the epoch in progress and the metrics history. The data position is
``(epoch, batch) = divmod(step, batches_per_epoch)``, which :meth:`BatchSource.batches` reproduces
bit-exactly with ``start_batch``.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from stnlab import io
from stnlab.data import make_source
from stnlab.errors import StnlabError
from stnlab.options import options_of
from stnlab.train import checkpoint as ckpt
from stnlab.train import distributed as D
from stnlab.train.config import HOST, OUTPUT, RECIPE, RunConfig, keys_with
from stnlab.train.config_files import load_config_json
from stnlab.train.interrupt import StopSignals, disk_full, interrupted
from stnlab.train.metrics import MetricsLog, require_tensorboard
from stnlab.train.prefetch import prefetch
from stnlab.train.recorder import Progress, Recorder, TrainingDiverged, TrainJob
from stnlab.train.run import build_model
from stnlab.train.step import Guard, StepSetup, lr_at, make_optimizer, set_lr, train_step

# what resuming may change (the roles of RunConfig's fields): freely how and where it runs and what it records;
# with force_recipe also the recipe (recorded)
HOST_RESUME_KEYS = keys_with(HOST, OUTPUT)
RECIPE_KEYS = keys_with(RECIPE)
RESUME_KEYS = HOST_RESUME_KEYS + RECIPE_KEYS
RECIPE_LOG = "recipe_changes.json"


def _merge_resume(saved: RunConfig, cfg: RunConfig | None, force_recipe: bool) -> tuple[RunConfig, dict[str, Any]]:
    """The config to resume with (the saved one, plus the changes in ``cfg`` that resuming allows) and the
    recipe changes among them (``{key: [old, new]}``), which need ``force_recipe``."""
    if cfg is None:
        return saved, {}
    old = saved.to_dict()
    changed = {k: v for k, v in cfg.to_dict().items() if v != old[k]}
    fixed = sorted(set(changed) - set(RESUME_KEYS))
    if fixed:
        raise StnlabError(f"cannot change {', '.join(fixed)} when resuming (the run was made with "
                          f"{', '.join(f'{k}={old[k]!r}' for k in fixed)}); start a new run instead")
    recipe = {k: [old[k], changed[k]] for k in RECIPE_KEYS if k in changed}
    if recipe and not force_recipe:
        raise StnlabError(f"resuming would change the recipe of the run ({_changes(recipe)}); "
                          f"resume without these --set/flags, or add --force-recipe to change them (recorded in "
                          f"{RECIPE_LOG} of the run folder)")
    return saved.replace(**changed), recipe


def _record_recipe_change(out: Path, step: int, recipe: dict[str, Any]) -> None:
    """Append the recipe change of a forced resume at ``step`` to the run folder's :data:`RECIPE_LOG`."""
    path = out / RECIPE_LOG
    log = io.read_json(path) if path.is_file() else []
    io.write_json(path, [*log, {"step": step, "changed": recipe, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}])
    warnings.warn(f"{out}: the recipe changed at step {step} ({_changes(recipe)}); recorded in {path}", stacklevel=3)


def _changes(recipe: dict[str, Any]) -> str:
    return ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in recipe.items())


@dataclass(frozen=True)
class TrainOptions:
    """How :func:`train` treats its run folder and where it reads data (``root``, ``cache_dir``: see
    :func:`stnlab.data.make_source`); ``progress`` prints a progress bar, ``tensorboard`` writes ``tb/``."""

    force: bool = False
    resume: bool = False
    tensorboard: bool = False
    progress: bool = True
    root: str | Path | None = None
    cache_dir: str | Path | None = None
    force_recipe: bool = False


def train(cfg: RunConfig | None, out_dir: str | Path, options: TrainOptions | None = None,
          **keywords: Any) -> dict[str, Any]:
    """Train ``cfg`` into the run folder ``out_dir``; return the last metrics record. ``options`` / ``keywords``:
    :class:`TrainOptions`.

    ``resume``: continue ``out_dir`` from its ``last.pt`` (``cfg`` may be None, or change only
    :data:`HOST_RESUME_KEYS`, and with ``force_recipe`` also :data:`RECIPE_KEYS`, recorded in the run folder's
    :data:`RECIPE_LOG`). ``force``: overwrite an existing run folder. Ctrl-C or SIGTERM finishes the step,
    writes ``last.pt`` and raises :class:`~stnlab.errors.Interrupted` (:mod:`stnlab.train.interrupt`).
    Works unchanged under torchrun (one data shard per rank; only rank 0 writes).
    """
    o = options_of(TrainOptions, options, keywords, "train")
    out = Path(out_dir)
    if o.tensorboard:
        require_tensorboard()  # fail before anything is written
    ckpt.prepare_run_folder(out, force=o.force, resume=o.resume)
    main = os.environ.get("RANK", "0") == "0"
    with ckpt.run_folder_lock(out, enabled=main), StopSignals(enabled="WORLD_SIZE" not in os.environ) as stop:
        stale = io.clean_stale_parts(out) if main else []  # temporary files of a killed write
        if stale:
            warnings.warn(f"{out}: removed {len(stale)} temporary file(s) left by an interrupted write "
                          f"({', '.join(p.name for p in stale[:3])})", stacklevel=2)
        return _train(cfg, out, o, stop)


def _train(cfg: RunConfig | None, out: Path, o: TrainOptions, stop: StopSignals) -> dict[str, Any]:
    """:func:`train` once the run folder is checked and locked."""
    state, recipe = None, {}
    if o.resume:
        cfg, recipe = _merge_resume(load_config_json(out / "config.json"), cfg, o.force_recipe)
        state = ckpt.load_checkpoint(out / "last.pt")
        ckpt.check_model_matches(state, out / "last.pt", cfg.model, cfg.dataset)
    if cfg is None:
        raise StnlabError("no run config given; pass a RunConfig (or resume=True with an existing run folder)")
    model = build_model(cfg)  # validates the model name before anything is written
    d = D.setup(cfg.device, cfg.threads)
    rec: Recorder | None = None
    try:
        job = _make_job(cfg, model, out, d, o.root, o.cache_dir)
        _prepare_folder(job, fresh=state is None, force=o.force)
        start = _restore(job, state) if state is not None else Progress()
        if recipe and d.is_main:
            _record_recipe_change(out, start.step, recipe)
        log = MetricsLog(out / "metrics.jsonl" if d.is_main else None, start.history,
                         out / "tb" if o.tensorboard and d.is_main else None)
        rec = Recorder(job, log, Guard(cfg.theta_bound, d.device), start)
        try:
            return _loop(job, rec, start.step, o.progress, stop)
        finally:
            log.close()
    except OSError as err:  # a full disk anywhere in the run folder (config.json, metrics, a checkpoint, a figure)
        if err.errno not in io.DISK_FULL:
            raise
        raise disk_full(out, rec.saved_step if rec else state["step"] if state else None, err) from None
    finally:
        D.teardown(d)


def _make_job(cfg: RunConfig, model: torch.nn.Module, out: Path, d: D.Dist, root: Any, cache_dir: Any) -> TrainJob:
    """Check the batch size against the processes and the data; the data sources, the model on its device."""
    if cfg.batch_size % d.world_size:
        raise StnlabError(f"batch_size {cfg.batch_size} is not divisible by the {d.world_size} processes; "
                          f"pick a multiple of {d.world_size} (--set batch_size=...)")
    per_rank = cfg.batch_size // d.world_size
    # the data render on the training device (a GPU is not fed by the CPU cores; a no-op on the CPU)
    train_src = make_source(cfg.dataset, "train", root=root, cache_dir=cache_dir, seed=cfg.seed,
                            **cfg.data_options()).to(d.device)
    if cfg.transform_warmup > 0:  # checked in the config: a protocol or an augmented data set
        train_src.set_warmup(cfg.transform_warmup)
    if cfg.augment_rotation is not None:  # checked in the config: a data set with its own augmentation
        train_src.set_rotation_limit(cfg.augment_rotation)
    val_src = make_source(cfg.dataset, "val", root=root, cache_dir=cache_dir, seed=cfg.data_seed,
                          **cfg.data_options()).to(d.device)
    nb = train_src.num_batches(per_rank, drop_last=True, world_size=d.world_size)
    if nb < 1:
        raise StnlabError(f"batch_size {cfg.batch_size} exceeds the {train_src.num_samples} training samples; "
                          f"lower it (--set batch_size=...)")
    model.to(d.device)
    model.to(memory_format=torch.channels_last if cfg.channels_last else torch.contiguous_format)
    total = cfg.steps if cfg.steps is not None else cfg.epochs * nb
    return TrainJob(cfg, out, d, model, make_optimizer(cfg, model), train_src, val_src, per_rank, nb, total)


def _prepare_folder(job: TrainJob, *, fresh: bool, force: bool) -> None:
    """Rank 0 clears (``--force``) or creates the run folder and writes ``config.json``."""
    D.barrier(job.d)  # every rank has checked the folder before rank 0 changes it
    if job.d.is_main:
        if fresh:
            ckpt.clear_run_folder(job.out) if force else job.out.mkdir(parents=True, exist_ok=True)
        io.write_json(job.out / "config.json", job.cfg.to_dict())


def _restore(job: TrainJob, state: dict[str, Any]) -> Progress:
    """Load the model, optimizer and RNG state of ``state`` (from ``last.pt``); return where the run stands."""
    path = job.out / "last.pt"
    ckpt.load_model_state(job.model, state, path)
    fresh = [{k: v for k, v in g.items() if k != "params"} for g in job.optimizer.param_groups]
    job.optimizer.load_state_dict(state["optimizer"])
    for group, settings in zip(job.optimizer.param_groups, fresh):  # the config's hyperparameters win
        group.update(settings)
    rngs, runs = state["rng"], state["running"]
    if len(runs) != job.d.world_size and any(r[2] for r in runs):
        raise StnlabError(f"{path} was saved mid-epoch by {len(runs)} process(es); resume it "
                          f"with the same number of processes ({len(runs)})")
    ckpt.set_rng_state(rngs[job.d.rank % len(rngs)])
    return Progress(state["step"], dict(state["best"]), list(state["history"]), float(state["wall_time"]),
                    list(runs[job.d.rank % len(runs)]))


def _is_record_step(cfg: RunConfig, step: int, nb: int, total: int) -> bool:
    return step % nb == 0 or step == total or bool(cfg.val_every and step % cfg.val_every == 0)


def _loop(job: TrainJob, rec: Recorder, step: int, progress: bool, stop: StopSignals) -> dict[str, Any]:
    """Train from ``step`` to ``job.total``; return the last metrics record. Stops after the step in progress
    (``last.pt`` written) when ``stop`` has caught a signal."""
    cfg, d, nb = job.cfg, job.d, job.steps_per_epoch
    net = job.model
    if d.enabled:
        net = DistributedDataParallel(job.model, device_ids=[d.device.index] if d.device.type == "cuda" else None)
    setup = StepSetup(net, job.optimizer, rec.guard, d.device, cfg.precision, cfg.grad_clip,
                      cfg.st_identity_weight, cfg.st_log_scale_bound, cfg.loc_grad_clip)
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    show = progress and d.is_main
    overall = tqdm(total=job.total, initial=step, desc=f"{cfg.model} {cfg.dataset}", unit="step",
                   disable=not show, dynamic_ncols=True)
    last: dict[str, Any] = rec.log.history[-1] if rec.log.history else {}
    net.train()
    try:
        while step < job.total:
            epoch, b0 = divmod(step, nb)
            bar = tqdm(total=min(nb, job.total - epoch * nb) * cfg.batch_size, initial=b0 * cfg.batch_size,
                       desc=f"epoch {epoch + 1}", unit="img", unit_scale=True, leave=False, disable=not show,
                       dynamic_ncols=True)
            batches = job.train_src.batches(job.per_rank, epoch=epoch, drop_last=True, rank=d.rank,
                                            world_size=d.world_size, start_batch=b0)
            for batch in prefetch(batches, cfg.prefetch):
                set_lr(job.optimizer, lr_at(cfg, step, job.total, nb))
                x = batch.images.to(d.device, non_blocking=True).contiguous(memory_format=fmt)
                labels = batch.labels.to(d.device, non_blocking=True)
                rec.add(train_step(setup, x, labels, step + 1), len(labels))
                step += 1
                bar.update(cfg.batch_size)
                overall.update(1)
                if _is_record_step(cfg, step, nb, job.total):
                    last = rec.record(step)
                    overall.set_postfix(loss=f"{last['train_loss']:.3f}", val_err=f"{last['val_error']:.4f}")
                elif cfg.ckpt_every and step % cfg.ckpt_every == 0:
                    rec.save("last.pt", step)
                elif step % cfg.guard_every == 0:
                    rec.check(step)
                if stop.signum is not None and step < job.total:
                    if rec.saved_step != step:
                        rec.save("last.pt", step)
                    raise interrupted(stop.signum, job.out, step, job.total)
                if step >= job.total:
                    break
            bar.close()
    finally:
        overall.close()
    return last


__all__ = ["HOST_RESUME_KEYS", "RECIPE_KEYS", "RESUME_KEYS", "TrainOptions", "TrainingDiverged", "lr_at",
           "make_optimizer", "train"]
