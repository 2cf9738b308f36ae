"""The alignment residual over -180..180 degrees of a trained group CNN and a trained plain CNN, with and without
the orientation-channel action: results/equivariant-alignment.json and results/figures/equivariant-alignment.png
(stnlab.experiments.equivariant_alignment; the claims ledger's Extensions read the JSON).

Usage (the committed report: both backbones trained 3 epochs of MNIST-R, ~3 minutes each here)::

    export STNLAB_DATA=../shared/data
    for m in CNN2-eq CNN; do
      stnlab train --model $m --dataset mnist-rot --epochs 3 --set lr=0.05 --set precision=bf16 \\
        --set threads=1 --out runs/eq-probe/$m-3ep
    done
    python scripts/equivariant_alignment.py runs/eq-probe/CNN2-eq-3ep runs/eq-probe/CNN-3ep

The small files of both runs (config.json, metrics.jsonl) are copied to results/equivariant-probes/<run>/, and
the report names the runs by that path (relative to the repository: run it from the repository root).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from stnlab.experiments.equivariant_alignment import (
    alignment_report,
    centred_digits,
    format_markdown,
    write_report,
)
from stnlab.experiments.results import export_run
from stnlab.nn.equivariant import regular_group_order
from stnlab.train import load_run


def describe(run: Path, copy_to: Path) -> tuple[torch.nn.Module, dict]:
    """The run's trained model and what the report says about its training; its small files go to ``copy_to``."""
    model, cfg = load_run(run)
    export_run(run, copy_to / run.name)
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    return model, {"model": cfg.model, "run": (copy_to / run.name).as_posix(), "dataset": cfg.dataset,
                   "epochs": last["epoch"], "val_error": last["val_error"], "lr": cfg.lr, "precision": cfg.precision,
                   "seed": cfg.seed}


def main() -> None:
    """Measure both backbones and write the report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("equivariant_run", type=Path, help="run folder of a model whose depths 1-2 are group convs")
    p.add_argument("plain_run", type=Path, help="run folder of a plain CNN")
    p.add_argument("--copy-to", type=Path, default=Path("results/equivariant-probes"),
                   help="where the runs' small files go; the report names the runs by this (relative) path")
    p.add_argument("--images", type=int, default=100)
    p.add_argument("--results", type=Path, default=Path("results"))
    args = p.parse_args()
    torch.set_num_threads(1)
    eq_model, eq_desc = describe(args.equivariant_run, args.copy_to)
    order = regular_group_order(eq_model.backbone.stages, 2)
    if order is None:
        raise SystemExit(f"{args.equivariant_run}: depth-2 maps are not regular fields (use e.g. CNN2-eq or CNN-inv)")
    data = alignment_report({"equivariant": (eq_model, eq_desc), "plain": describe(args.plain_run, args.copy_to)},
                            centred_digits(args.images), order)
    for path in write_report(data, args.results):
        print(f"wrote {path}")
    print(format_markdown(data))


if __name__ == "__main__":
    main()
