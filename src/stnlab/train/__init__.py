"""Training and evaluation: run configs, the training loop (single process or torchrun/DDP), checkpoints.

Python API (the CLI ``stnlab train`` / ``stnlab eval`` is a thin layer on top)::

    from stnlab.train import build_config, train, evaluate_run, load_run
    cfg = build_config({"model": "STN-C0", "dataset": "mnist-rot", "steps": 300})
    train(cfg, "runs/c0")                     # writes config.json, metrics.jsonl, last.pt, best.pt
    evaluate_run("runs/c0", split="test")     # writes eval.json (mean +- std over 10 passes)
    model, cfg = load_run("runs/c0", which="best")
"""

from stnlab.train.checkpoint import load_checkpoint, save_checkpoint
from stnlab.train.config import KEYS, ROLES, RunConfig, build_config, keys_with, parse_sets
from stnlab.train.config_files import load_config_json, read_config_file
from stnlab.train.evaluation import EvalOptions, RunEvalOptions, compute_loss, evaluate, evaluate_run
from stnlab.train.loop import TrainOptions, train
from stnlab.train.metrics import DETERMINISTIC_KEYS, read_metrics
from stnlab.train.recorder import TrainingDiverged
from stnlab.train.run import build_model, load_run, load_run_state
from stnlab.train.step import lr_at

__all__ = [
    "DETERMINISTIC_KEYS",
    "EvalOptions",
    "KEYS",
    "ROLES",
    "RunConfig",
    "RunEvalOptions",
    "TrainOptions",
    "TrainingDiverged",
    "build_config",
    "build_model",
    "compute_loss",
    "evaluate",
    "evaluate_run",
    "keys_with",
    "load_config_json",
    "load_checkpoint",
    "load_run",
    "load_run_state",
    "lr_at",
    "parse_sets",
    "read_config_file",
    "read_metrics",
    "save_checkpoint",
    "train",
]
