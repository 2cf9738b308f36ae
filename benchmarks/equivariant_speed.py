"""Speed of the rotation-equivariant models against the plain CNN: training steps and inference, one run.

Usage (real MNIST needed)::

    STNLAB_DATA=../shared/data python benchmarks/equivariant_speed.py [--threads 2]

Training: ``train_speed.py``'s step (forward + backward + SGD, batch 256, channels_last, models interleaved
within each timing, median over ``--repeats``) for the plain CNN / STN-C1 / STN-SL1 and the equivariant
CNN1-eq / CNN-inv / STN-C1-eq / STN-SL1-eq on ``mnist-rot``, fp32 and bf16. Inference: img/s of the eval
forward (no gradient, batch 256) of each model as built (a group conv expands its filters from the basis
coefficients at every call) and after :func:`stnlab.nn.to_plain_convs` (plain ``nn.Conv2d`` weights), in the
same interleaved rounds; ``/ CNN`` is img/s over the plain CNN's of the same row kind.
"""

from __future__ import annotations

import argparse
import time

import torch

from stnlab.data import make_source
from stnlab.models import create_model
from stnlab.nn import to_plain_convs
from train_speed import autocast, bench_dataset, matmul_peak, sync, time_models

MODELS = ("CNN", "CNN1-eq", "CNN-inv", "STN-C1", "STN-C1-eq", "STN-SL1", "STN-SL1-eq")


def inference_rows(args: argparse.Namespace, device: torch.device) -> list[dict]:
    """Eval-forward img/s of every model, as built and exported to plain convs, interleaved."""
    source = make_source("mnist-rot", "test", download=False)
    batches = [(b.images.to(device).contiguous(memory_format=torch.channels_last), b.labels.to(device))
               for _, b in zip(range(args.steps), source.batches(args.batch_size))]
    rows = []
    for precision in args.precisions:
        forwards = {}
        for name in args.models:
            torch.manual_seed(0)
            model = create_model(name, "mnist-rot").to(device, memory_format=torch.channels_last).eval()
            plain = to_plain_convs(model).to(memory_format=torch.channels_last)
            variants = {"as built": model, "plain convs": plain} if name != "CNN" else {"": model}
            for kind, m in variants.items():
                forwards[name, kind] = _forward(m, precision, device)
        speed, _ = time_models(forwards, batches, device, args.repeats)
        for (name, kind), v in speed.items():
            rows.append({"model": name, "variant": kind or "plain", "precision": precision, "img_per_s": round(v, 1),
                         "over_cnn": round(v / speed["CNN", ""], 3)})
    return rows


def _forward(model: torch.nn.Module, precision: str, device: torch.device):
    """A step function (the interface of ``time_models``) that runs the eval forward only."""
    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        with torch.no_grad(), autocast(precision, device):
            model(x)
    return step


def main() -> None:
    """Measure training and inference speed; print markdown tables."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=6, help="batches per timing")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    args.compile = False
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    peaks = {q: matmul_peak(q, device) for q in args.precisions}
    train = bench_dataset("mnist-rot", args, device, peaks)
    sync(device)
    infer = inference_rows(args, device)
    print(f"{started}; torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
          f"{args.steps} batches x median of {args.repeats}; matmul peak GFLOP/s: "
          + ", ".join(f"{q} {v:.0f}" for q, v in peaks.items()) + "\n")
    print("| training | precision | img/s | MFLOP/img | / CNN |\n| --- | --- | --- | --- | --- |")
    for r in train:
        print(f"| {r['model']} | {r['precision']} | {r['img_per_s']:.0f} | {r['flop_per_img'] / 1e6:.1f} | "
              f"{r['stn_over_cnn']:.2f} |")
    print("\n| inference | variant | precision | img/s | / CNN |\n| --- | --- | --- | --- | --- |")
    for r in infer:
        print(f"| {r['model']} | {r['variant']} | {r['precision']} | {r['img_per_s']:.0f} | {r['over_cnn']:.2f} |")


if __name__ == "__main__":
    main()
