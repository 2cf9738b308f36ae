"""Training throughput (img/s) on MNIST-R: compute per step, data rendering, and the whole `train` loop.

Usage (real MNIST needed)::

    STNLAB_DATA=/work/shared/data python benchmarks/train_speed.py [--models CNN STN-C0] [--steps 60]

For each model and setting (threads x channels_last) it reports:

* ``step``: forward + backward + SGD step on batches rendered beforehand (the model's cost alone);
* ``data``: rendering rate of the mnist-rot training source (the data pipeline alone);
* ``loop``: ``stnlab.train.train`` end to end (``img_per_s`` of its metrics record: data + step, no
  validation), which is what ``stnlab train`` shows; with batches rendered inline (``prefetch`` 0) and
  two batches ahead in a background thread (``prefetch`` 2, the default).

Each figure is the median of ``--repeats`` timings after one warm-up. A busy machine gives lower and
noisier numbers; run it on an idle one.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from stnlab.data import make_source
from stnlab.train import build_config, compute_loss, read_metrics, train
from stnlab.train.loop import build_model, make_optimizer


def time_steps(model_name: str, threads: int, channels_last: bool, batches: list, repeats: int) -> float:
    """Median img/s of forward + backward + SGD over ``batches``."""
    torch.set_num_threads(threads)
    cfg = build_config({"model": model_name, "dataset": "mnist-rot", "channels_last": channels_last})
    model = build_model(cfg)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=fmt).train()
    opt = make_optimizer(cfg, model)

    def one_pass() -> float:
        t0 = time.perf_counter()
        for images, labels in batches:
            loss, _ = compute_loss(model(images.contiguous(memory_format=fmt)), labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return sum(len(y) for _, y in batches) / (time.perf_counter() - t0)

    one_pass()  # warm-up
    return statistics.median(one_pass() for _ in range(repeats))


def time_data(batch_size: int, steps: int, repeats: int) -> float:
    """Median img/s of rendering mnist-rot training batches."""
    source = make_source("mnist-rot", "train")

    def one_pass(epoch: int) -> float:
        t0 = time.perf_counter()
        n = sum(len(b.labels) for _, b in zip(range(steps), source.batches(batch_size, epoch=epoch)))
        return n / (time.perf_counter() - t0)

    one_pass(0)
    return statistics.median(one_pass(e + 1) for e in range(repeats))


def time_loop(model_name: str, threads: int, channels_last: bool, batch_size: int, steps: int,
              prefetch: int) -> float:
    """img/s reported by the training loop itself (one record at the end, tiny validation)."""
    cfg = build_config({"model": model_name, "dataset": "mnist-rot", "steps": steps, "batch_size": batch_size,
                        "threads": threads, "channels_last": channels_last, "val_samples": 100,
                        "eval_batch_size": 100, "ckpt_every": 0, "prefetch": prefetch})
    with tempfile.TemporaryDirectory() as tmp:
        train(cfg, f"{tmp}/run", progress=False)
        return read_metrics(Path(tmp) / "run" / "metrics.jsonl")[-1]["img_per_s"]


def main() -> None:
    """Parse the arguments, run every measurement, print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["CNN", "STN-C0"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20, help="batches per timing")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    source = make_source("mnist-rot", "train")
    batches = [(b.images, b.labels) for _, b in zip(range(args.steps), source.batches(args.batch_size))]
    print(f"torch {torch.__version__}, batch {args.batch_size}, {args.steps} steps per timing, "
          f"median of {args.repeats}\n")
    print(f"data (mnist-rot rendering, 1 process): {time_data(args.batch_size, args.steps, args.repeats):.0f} img/s\n")
    print("| model | threads | channels_last | step img/s | loop img/s, prefetch 0 | loop img/s, prefetch 2 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in args.models:
        for threads in args.threads:
            for cl in (False, True):
                step = time_steps(name, threads, cl, batches, args.repeats)
                loops = [time_loop(name, threads, cl, args.batch_size, args.steps, p) for p in (0, 2)]
                print(f"| {name} | {threads} | {cl} | {step:.0f} | {loops[0]:.0f} | {loops[1]:.0f} |", flush=True)


if __name__ == "__main__":
    main()
