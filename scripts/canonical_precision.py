"""How precise is the canonical-pose class std of ``stnlab canonical`` (200 test digits by default)?

Measures the shipped MNIST-R weights (seed 0 of the paper-budget runs: ``create_model(..., pretrained=True)``)
on ``--digits`` test digits drawn as ``stnlab canonical`` draws them (its first 200 are the report's digits),
then on each disjoint block of ``--block`` digits, and prints per model the slope and class std of the report's
draw, of all digits, and the mean, std, min and max of the class std over the blocks. The spread over blocks
is the measurement's sampling error; the spread over seeds in ``results/mnist-compensation.json`` is the
networks'.

    python scripts/canonical_precision.py [--digits 2000] [--block 200] [--models STN-SL1 STN-C0 STN-C1]
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

from stnlab.analysis.compensation import compensation
from stnlab.data import pick_images
from stnlab.experiments.canonical import COLUMNS
from stnlab.models import create_model


def measure(model: Any, images: Any, labels: Any) -> tuple[float, float]:
    """Slope and class std (degrees) of ``model``'s rotation compensation on these digits (column R's angles)."""
    col = COLUMNS["R"]
    r = compensation(model, images, labels, kind=col.kind, values=col.values)
    return r.slope, r.class_std


def main() -> None:
    """Print one line per model (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, default=2000)
    parser.add_argument("--block", type=int, default=200)
    parser.add_argument("--models", nargs="+", default=["STN-SL1", "STN-C0", "STN-C1"])
    parser.add_argument("--data-root", default=None, help="data folder (default: $STNLAB_DATA)")
    args = parser.parse_args()
    col = COLUMNS["R"]
    # the report's draw (seed 0), extended
    images, labels = pick_images(col.dataset, args.digits, seed=0, canvas=28, root=args.data_root)
    for name in args.models:
        model = create_model(name, dataset=col.dataset, pretrained=True).eval()
        first, whole = measure(model, images[:args.block], labels[:args.block]), measure(model, images, labels)
        blocks = [measure(model, images[i:i + args.block], labels[i:i + args.block])[1]
                  for i in range(0, args.digits - args.block + 1, args.block)]
        print(f"{name}: first {args.block} digits slope {first[0]:+.3f}, class std {first[1]:.2f} deg; "
              f"all {args.digits}: {whole[0]:+.3f}, {whole[1]:.2f} deg; {len(blocks)} disjoint blocks of "
              f"{args.block}: class std mean {statistics.mean(blocks):.2f}, std {statistics.stdev(blocks):.2f}, "
              f"min {min(blocks):.2f}, max {max(blocks):.2f} deg", flush=True)


if __name__ == "__main__":
    main()
