"""Building a run's model from its config, and loading a trained run folder (model + config + checkpoint)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from stnlab.models import create_model
from stnlab.train import checkpoint as ckpt
from stnlab.train.config import RunConfig
from stnlab.train.config_files import load_config_json


def build_model(cfg: RunConfig) -> nn.Module:
    """The model of ``cfg``, its initial weights drawn from ``cfg.seed`` (reproducible).

    The caller's global torch RNG state is left as it was (the seeding happens inside ``fork_rng``).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        if cfg.model == "CNN":
            return create_model("CNN", cfg.dataset, **cfg.data_options())
        return create_model(cfg.model, cfg.dataset, family=cfg.family, iterations=cfg.iterations,
                            loc_net=cfg.loc_net, loc_lr_multiplier=cfg.loc_lr_multiplier,
                            padding_mode=cfg.padding_mode, **cfg.data_options())


def load_run(run_dir: str | Path, which: str = "best") -> tuple[nn.Module, RunConfig]:
    """The trained model (eval mode, CPU) and the :class:`RunConfig` of a run folder.

    ``which`` is ``"best"`` (lowest validation error), ``"last"``, or a path to a checkpoint file.
    Checkpoints are loaded onto the CPU whatever device the run was trained on.
    """
    model, cfg, _ = load_run_state(run_dir, which)
    return model, cfg


def load_run_state(run_dir: str | Path, which: str = "best") -> tuple[nn.Module, RunConfig, dict[str, Any]]:
    """Like :func:`load_run`, also returning the checkpoint dict."""
    run_dir = Path(run_dir)
    cfg = load_config_json(run_dir / "config.json")
    path = run_dir / f"{which}.pt" if which in ("best", "last") else Path(which)
    state = ckpt.load_checkpoint(path, map_location="cpu")
    ckpt.check_model_matches(state, path, cfg.model, cfg.dataset)
    model = build_model(cfg)
    ckpt.load_model_state(model, state, path)
    return model.eval(), cfg, state


__all__ = ["build_model", "load_run", "load_run_state"]
