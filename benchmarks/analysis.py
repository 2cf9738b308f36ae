"""Time of one alignment analysis: a 64-channel layer, 100 images x 8 input transforms.

Usage::

    STNLAB_DATA=../shared/data python benchmarks/analysis.py [--images 100] [--steps 40] [--repeats 3]

The layer is depth 1 of the authors' MNIST CNN (``create_model("CNN", "mnist-rot")``, random weights:
conv 9x9, 64 channels, max-pool 2 -> a 64 x 10 x 10 map) on MNIST test digits (random images when
``STNLAB_DATA`` is unset). One analysis = features of the 800 transformed images + the batched
Levenberg-Marquardt optimisation of T_g from two starts for every (image, transform) pair. Prints the
best and median wall time over ``--repeats`` runs (after one warm-up) and the mean residuals.
Target: <= 5 s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from stnlab.analysis import alignment_residual
from stnlab.models import create_model

TRANSFORMS = ["trans:2", "trans:2,-2", "rot:30", "rot:45", "rot:90", "scale:0.5", "scale:1.5", "scale:2"]


def digits(n: int) -> tuple[torch.Tensor, str]:
    """``n`` MNIST test digits (``N x 1 x 28 x 28``), or random images when no data root is set."""
    if os.environ.get("STNLAB_DATA"):
        from stnlab.data import load_mnist

        images, _ = load_mnist("test")
        return images[:n].float().div(255)[:, None], "MNIST test digits"
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0)), "random images (no STNLAB_DATA)"


def main() -> None:
    """Run the benchmark and print the timings."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = create_model("CNN", "mnist-rot")
    images, what = digits(args.images)
    alignment_residual(model, images[:4], TRANSFORMS[:2], depths=[1], steps=2)  # warm-up
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        res = alignment_residual(model, images, TRANSFORMS, depths=[1], steps=args.steps)
        times.append(time.perf_counter() - t0)
    print(
        f"alignment analysis: depth 1 (64 x 10 x 10 maps), {args.images} {what} x {len(TRANSFORMS)} transforms, "
        f"{args.steps} steps, 2 starts, {torch.get_num_threads()} threads"
    )
    print(f"time: best {min(times):.2f} s, median {statistics.median(times):.2f} s over {args.repeats} runs")
    for j, t in enumerate(res.transforms):
        print(
            f"  {t:<10} none {res.none[0, j].mean():.3f}  inverse {res.inverse[0, j].mean():.3f}  "
            f"optimum {res.optimum[0, j].mean():.3f}"
        )


if __name__ == "__main__":
    main()
