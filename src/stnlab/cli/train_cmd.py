"""``stnlab train`` and ``stnlab eval``: thin layers over :mod:`stnlab.train`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from stnlab.data import dataset_names, dataset_spec
from stnlab.errors import StnlabError
from stnlab.train import build_config, evaluate_run, load_config_json, parse_sets, read_config_file, train
from stnlab.train.diagnostics import describe


def _common_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", default=None, help="data folder (default: $STNLAB_DATA or the user cache)")
    p.add_argument("--cache-dir", default=None, help="cache folder (default: $STNLAB_CACHE or the user cache)")


def register(subparsers: Any) -> None:
    """Add the ``train`` and ``eval`` sub-commands."""
    p = subparsers.add_parser(
        "train", help="train a model (also under torchrun --nproc_per_node=N)",
        description="Train a model into a run folder (config.json, metrics.jsonl, last.pt, best.pt). "
                    "Config precedence: data set defaults < --config file < flags < --set.",
    )
    p.add_argument("--model", help="model name, e.g. CNN, STN-C0, STN-SL1 (see 'stnlab models')")
    p.add_argument("--dataset", help=f"{', '.join(dataset_names())}, or your own data: folder:PATH, idx:PATH, "
                                      "npz:FILE (with --set protocol=..., image_size=N)")
    p.add_argument("--config", metavar="FILE", help="YAML or JSON file of config keys")
    p.add_argument("--epochs", type=int, help="number of epochs (ignored when steps is set)")
    p.add_argument("--steps", type=int, help="number of optimizer steps (overrides --epochs)")
    p.add_argument("--seed", type=int, help="seed of the weights, the data order and the train transforms")
    p.add_argument("--out", help="run folder (default: runs/DATASET/MODEL-sSEED)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (repeatable), e.g. --set lr=0.001 --set family=rotation")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--force", action="store_true", help="overwrite an existing run folder")
    mode.add_argument("--resume", action="store_true",
                      help="continue the run folder (--out, or the default folder of --model/--dataset/--seed) "
                           "from its last.pt")
    p.add_argument("--force-recipe", action="store_true",
                   help="with --resume: allow --set/flags to change the recipe (lr, epochs, ...); the change is "
                        "recorded in RUN/recipe_changes.json")
    p.add_argument("--no-chance-stop", action="store_true",
                   help="train on when the validation error sits at chance (default: stop after "
                        "chance_stop=5 validations at chance, exit 2)")
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard scalars to RUN/tb")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    _common_data_args(p)
    p.set_defaults(func=run_train)

    e = subparsers.add_parser(
        "eval", help="evaluate a run folder's checkpoint (writes eval.json)",
        description="Error (MNIST protocols: mean +- std over 10 transformed test passes) and per-class "
                    "error of a trained run, written to RUN_DIR/eval.json.",
    )
    e.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by 'stnlab train'")
    e.add_argument("--split", default="test", choices=("train", "val", "test"))
    e.add_argument("--checkpoint", default="best", help="best, last, or a checkpoint file (default: best)")
    e.add_argument("--passes", type=int, default=None, help="transformed passes (default: 10 for R/T/S, else 1)")
    e.add_argument("--batch-size", type=int, default=None, help="evaluation batch size")
    e.add_argument("--samples", type=int, default=0,
                   help="evaluate only the first N samples of the split (quick checks; default: all)")
    e.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="where to evaluate, whatever the run was trained on (default: auto, CUDA if visible)")
    _common_data_args(e)
    e.set_defaults(func=run_eval)


def _config_layers(args: argparse.Namespace) -> list[dict[str, Any]]:
    layers = [read_config_file(args.config)] if args.config else []
    flags = {k: getattr(args, k) for k in ("model", "dataset", "epochs", "steps", "seed")}
    layers.append({k: v for k, v in flags.items() if v is not None})
    layers.append(parse_sets(args.sets))
    if args.no_chance_stop:
        layers.append({"chance_stop": 0})
    return layers


def _folder_name(cfg: Any) -> str:
    """The default run folder's data set part: the name, or ``KIND-NAME[-PROTOCOL]`` for a user's data set."""
    kind, sep, path = cfg.dataset.partition(":")
    if not sep:
        return cfg.dataset
    return f"{kind}-{Path(path).stem or 'data'}" + (f"-{cfg.protocol}" if cfg.protocol else "")


def _default_out(cfg: Any, must_exist: bool = False) -> Path:
    """The default run folder ``runs/DATASET/MODEL-sSEED`` of ``cfg``; with ``must_exist`` (``--resume``
    without ``--out``) a one-line error with the exact command when it is not a run folder."""
    out = Path("runs") / _folder_name(cfg) / f"{cfg.model}-s{cfg.seed}"
    if must_exist and not (out / "config.json").is_file():
        raise StnlabError(f"cannot resume: the default run folder {out} of {cfg.model} on {cfg.dataset}, seed "
                          f"{cfg.seed} is not a run folder; pass the folder to continue: stnlab train --resume "
                          f"--out RUN_DIR")
    return out


def run_train(args: argparse.Namespace) -> int:
    """``stnlab train``."""
    layers = _config_layers(args)
    if args.force_recipe and not args.resume:
        raise StnlabError("--force-recipe is for --resume (a new run takes any recipe); drop it")
    if args.resume and not args.out and not (args.model and args.dataset):
        raise StnlabError("--resume needs the run folder: stnlab train --resume --out RUN_DIR (or --model and "
                          "--dataset, with --seed, of a run in its default folder runs/DATASET/MODEL-sSEED)")
    if args.resume:
        out = Path(args.out) if args.out else _default_out(build_config(*layers), must_exist=True)
        saved = load_config_json(out / "config.json")
        cfg = build_config(saved.to_dict(), *layers)
    else:
        cfg = build_config(*layers)
        out = Path(args.out) if args.out else _default_out(cfg)
    rec = train(cfg, out, force=args.force, resume=args.resume, tensorboard=args.tensorboard,
                progress=not args.no_progress, root=args.data_root, cache_dir=args.cache_dir,
                force_recipe=args.force_recipe)
    if rec and os.environ.get("RANK", "0") == "0":
        print(f"{cfg.model} on {cfg.dataset}: step {rec['step']} (epoch {rec['epoch']:.2f}), train loss "
              f"{rec['train_loss']:.4f}, train error {rec['train_error']:.4f}, val error {rec['val_error']:.4f}, "
              f"{rec['img_per_s']:.0f} img/s; run folder {out}")
        for st in rec.get("st", []):
            print(describe(st))
    return 0


def _class_names(dataset: str, run_dir: str, cache_dir: str | None) -> dict[str, str]:
    """Class index -> name for a user's data set (built-in ones print their indices)."""
    if ":" not in dataset:
        return {}
    cfg = load_config_json(Path(run_dir) / "config.json")
    spec = dataset_spec(dataset, cache_dir=cache_dir, **cfg.data_options())
    return {str(i): name for i, name in enumerate(spec.class_names)}


def run_eval(args: argparse.Namespace) -> int:
    """``stnlab eval``."""
    if args.passes is not None and args.passes < 1:
        raise StnlabError(f"--passes must be >= 1, got {args.passes}")
    if args.samples < 0:
        raise StnlabError(f"--samples must be >= 0 (0: all), got {args.samples}")
    if args.batch_size is not None and args.batch_size < 1:
        raise StnlabError(f"--batch-size must be >= 1, got {args.batch_size}")
    res = evaluate_run(args.run_dir, split=args.split, which=args.checkpoint, passes=args.passes,
                       batch_size=args.batch_size, root=args.data_root, cache_dir=args.cache_dir,
                       max_samples=args.samples, device=args.device)
    if os.environ.get("RANK", "0") != "0":
        return 0
    spread = f" +- {res['error_std']:.4f} over {res['passes']} passes" if res["passes"] > 1 else ""
    if not res["final"]:
        state = "is still training" if res["training"] else "has not finished"
        print(f"note: the run {state} (last checkpoint at step {res['run_step']} of {res['run_total']}): this "
              f"evaluates the {args.checkpoint} checkpoint at step {res['step']}, an intermediate result "
              f"(eval.json says \"final\": false)")
    print(f"{res['model']} on {res['dataset']} ({args.checkpoint} checkpoint, step {res['step']}), "
          f"{res['split']} error {res['error']:.4f}{spread}, loss {res['loss']:.4f}, {res['num_samples']} samples")
    worst = sorted(res["per_class_error"].items(), key=lambda kv: -kv[1])[:5]
    names = _class_names(res["dataset"], args.run_dir, args.cache_dir)
    print("highest per-class error: " + ", ".join(f"{names.get(c, c)}: {e:.4f}" for c, e in worst))
    print(f"wrote {Path(args.run_dir) / 'eval.json'}")
    return 0


__all__ = ["register", "run_eval", "run_train"]
