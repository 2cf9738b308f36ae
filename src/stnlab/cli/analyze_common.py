"""What the ``stnlab analyze`` sub-commands share: the common options, the output folder, the test images, a
trained run and its device; and the ``history`` sub-command (a run's metrics, no model needed)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from stnlab.data import dataset_spec, pick_images
from stnlab.errors import StnlabError
from stnlab.io import check_creatable, ensure_dir
from stnlab.train import load_run, read_metrics
from stnlab.train.history import format_history, history_rows


def add_common(p: argparse.ArgumentParser, out_help: str) -> None:
    """The options of every analysis of images: --out, --images, --seed, the data folders, --no-progress."""
    p.add_argument("--out", default=None, metavar="DIR", help=out_help)
    p.add_argument("--images", type=int, default=100, help="number of test images (default: 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the image choice and random weights")
    p.add_argument("--data-root", default=None, help="data folder (default: $STNLAB_DATA or the user cache)")
    p.add_argument("--cache-dir", default=None, help="cache folder (default: $STNLAB_CACHE or the user cache)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_history(sub: Any) -> None:
    """Add ``history``: the table of a run's validations."""
    h = sub.add_parser(
        "history",
        help="a run's errors and what its STs did at each validation (from metrics.jsonl)",
        description="One row per validation of each run: training and validation error and, per ST, the "
        "mean determinant of its sampling matrix (< 1 zooms in), the share of its grid outside the input, "
        "the spread of its angle and, on data with a transform protocol, the compensation slope and R^2 "
        "(-1 = full compensation, 0 = none). Reads metrics.jsonl only: works on running and committed runs.",
    )
    h.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="folders written by 'stnlab train'")
    h.add_argument("--markdown", action="store_true", help="print Markdown tables")
    h.set_defaults(func=run_history)


def run_history(args: argparse.Namespace) -> int:
    """Print the training history table of each run folder."""
    tables = []
    for run_dir in args.run_dirs:
        rows = history_rows(read_metrics(Path(run_dir) / "metrics.jsonl"))
        if not rows:
            raise StnlabError(f"{run_dir} has no validation record yet; wait for its first validation "
                              "(val_every) or pass another run folder")
        tables.append(f"{run_dir}\n{format_history(rows, markdown=args.markdown)}")
    print("\n\n".join(tables))
    return 0


def out_folder(args: argparse.Namespace, default: Path | None = None, create: bool = True) -> Path:
    """The output folder (checked; created only when ``create``, i.e. once the results are ready)."""
    if args.out is None and default is None:
        raise StnlabError("missing --out DIR: the folder for the JSON and PNG files")
    out = Path(args.out) if args.out is not None else default
    if out.exists() and not out.is_dir():
        raise StnlabError(f"--out {out} exists and is not a folder; pass a folder path")
    check_creatable(out, "--out")
    return ensure_dir(out) if create else out


def test_images(args: argparse.Namespace, dataset: str, size: int, options: dict[str, Any] | None = None
            ) -> tuple[Tensor, Tensor]:
    """``args.images`` untransformed test images of ``dataset`` (MNIST digits for the MNIST variants; the
    analysis applies its own transforms) centred on a ``size`` canvas: the one picker,
    :func:`stnlab.data.pick_images` (``--seed`` chooses them). ``options`` are the run's data options."""
    if args.images < 2:
        raise StnlabError(f"--images must be >= 2, got {args.images}")
    opts = {k: v for k, v in (options or {}).items() if k in ("image_size", "strict")}
    return pick_images(dataset, args.images, seed=args.seed, canvas=size, root=args.data_root,
                       cache_dir=args.cache_dir, **opts)


def run_spec(args: argparse.Namespace, cfg: Any) -> Any:
    """The DataSpec of a trained run's data set."""
    return dataset_spec(cfg.dataset, cache_dir=args.cache_dir, **cfg.data_options())


def load_trained(run_dir: str, which: str) -> tuple[torch.nn.Module, Any]:
    """A trained run's model (on the CPU) and config; a one-line error for a missing folder."""
    if not Path(run_dir).is_dir():
        raise StnlabError(f"run folder {run_dir} does not exist; pass a folder written by 'stnlab train'")
    return load_run(run_dir, which)


def pick_device(name: str) -> torch.device:
    """``auto``: a GPU when PyTorch sees one, else the CPU; ``cuda`` without a GPU is a one-line error."""
    if name == "cuda" and not torch.cuda.is_available():
        raise StnlabError("--device cuda: no CUDA GPU is visible to PyTorch here; use --device cpu (or auto)")
    return torch.device("cuda" if name != "cpu" and torch.cuda.is_available() else "cpu")


def run_title(cfg: Any, args: argparse.Namespace) -> str:
    """``MODEL on DATASET (run DIR, CHECKPOINT checkpoint)``: the first line of a trained run's figures."""
    return f"{cfg.model} on {cfg.dataset} (run {Path(args.run_dir).name}, {args.checkpoint} checkpoint)"


__all__ = ["add_common", "add_history", "load_trained", "out_folder", "pick_device", "run_history", "run_spec",
           "run_title", "test_images"]
