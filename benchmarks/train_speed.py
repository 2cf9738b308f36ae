"""Training-step throughput against this machine's matmul roofline, per model, data set and precision.

Usage (real MNIST needed; runs unchanged on a CUDA machine with ``--device cuda``)::

    STNLAB_DATA=../shared/data python benchmarks/train_speed.py [--json] [--precisions fp32 bf16] [--compile]

For each data set (``mnist-rot`` 28x28, ``mnist-trans`` 60x60), precision and model it times a training
step (forward + backward + SGD, on batches rendered beforehand, channels_last) and prints one row:

* ``img_per_s``: median over ``--repeats`` timings of ``--steps`` steps; the models are interleaved
  within each repeat, so a load that comes and goes hits them alike;
* ``flop_per_img``: forward + backward FLOPs of one training image (``torch.utils.flop_counter``);
* ``peak_gflops``: a 2048 x 2048 matmul in the same precision, measured in the same run (the roofline);
* ``roofline_share``: ``img_per_s * flop_per_img / peak``; ``stn_over_cnn``: img/s over the CNN's;
* ``warmup_s``: seconds of the untimed first round (with ``--compile``: mostly the compilation);
* ``data_share``: the time to render the step's training batch (``BatchSource.render``: the data set's
  transforms or augmentation, on the same threads) as a share of render + step, i.e. what the data would cost a
  step if it were rendered inline (``stnlab train`` renders inline unless ``prefetch`` > 0).

``--family`` sets the STs' transform family (``rotation`` for the plankton ``long`` budget).

``--json`` prints one JSON object per row instead of the markdown table. ``--compile`` adds rows for
``torch.compile`` (inductor) of the same step. A busy machine gives lower, noisier numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from stnlab.data import make_source
from stnlab.models import create_model

MODELS = ("CNN", "STN-C0", "STN-C1", "STN-SL1", "STN-DL1")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def sync(device: torch.device) -> None:
    """Wait for queued GPU work (timing boundary); nothing on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(precision: str, device: torch.device, n: int = 2048, reps: int = 10) -> float:
    """GFLOP/s of an ``n x n`` matmul in ``precision`` (best of ``reps``)."""
    a = torch.randn(n, n, device=device, dtype=DTYPES[precision])
    b = torch.randn(n, n, device=device, dtype=DTYPES[precision])
    best = float("inf")
    for _ in range(reps + 2):
        sync(device)
        t0 = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast (as ``stnlab train --set precision=bf16``), or nothing for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[precision])


def make_step(name: str, dataset: str, precision: str, device: torch.device, compiled: bool,
              family: str = "affine") -> tuple[Callable[[torch.Tensor, torch.Tensor], None], torch.nn.Module]:
    """A training step of a fresh model (SGD, momentum 0.9) and the model."""
    torch.manual_seed(0)
    model = create_model(name, dataset, family=family).to(device, memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def loss_of(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with autocast(precision, device):
            logits = model(x)
        return F.cross_entropy(logits.float(), y)

    loss_fn = torch.compile(loss_of) if compiled else loss_of

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        loss = loss_fn(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step, model


def flops_per_image(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Forward + backward FLOPs of one training image (fp32 count)."""
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / len(y)


def time_models(steps: dict[str, Callable], batches: list, device: torch.device,
                repeats: int) -> tuple[dict[str, float], dict[str, float]]:
    """Median img/s of each step function, interleaved over ``repeats`` rounds after a warm-up round, and the
    seconds of each one's warm-up round (with ``torch.compile``: mostly the compilation)."""
    samples: dict[str, list[float]] = {name: [] for name in steps}
    warmup: dict[str, float] = {}
    images = sum(len(y) for _, y in batches)
    for r in range(repeats + 1):
        for name, step in steps.items():
            sync(device)
            t0 = time.perf_counter()
            for x, y in batches:
                step(x, y)
            sync(device)
            if r:  # round 0 warms up (allocations, oneDNN primitives, compilation)
                samples[name].append(images / (time.perf_counter() - t0))
            else:
                warmup[name] = time.perf_counter() - t0
    return {name: statistics.median(v) for name, v in samples.items()}, warmup


def render_seconds(source: Any, batch_size: int, batches: int, device: torch.device) -> float:
    """Median seconds to render one training batch (the data set's transforms), after one untimed batch."""
    times = []
    for i in range(batches + 1):
        index = torch.arange(i * batch_size, (i + 1) * batch_size) % source.num_samples
        sync(device)
        t0 = time.perf_counter()
        source.render(index, 1)
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def bench_dataset(dataset: str, args: argparse.Namespace, device: torch.device,
                  peaks: dict[str, float]) -> list[dict]:
    """Every row of one data set: models x precisions (x compiled)."""
    source = make_source(dataset, "train", download=False).to(device)
    batches = [(b.images.to(device).contiguous(memory_format=torch.channels_last), b.labels.to(device))
               for _, b in zip(range(args.steps), source.batches(args.batch_size))]
    render_s = render_seconds(source, args.batch_size, args.steps, device)
    rows = []
    for precision in args.precisions:
        for compiled in (False, True) if args.compile else (False,):
            steps, flops = {}, {}
            for name in args.models:
                steps[name], model = make_step(name, dataset, precision, device, compiled, args.family)
                flops[name] = flops_per_image(model, *batches[0])
            speed, warmup = time_models(steps, batches, device, args.repeats)
            for name in args.models:
                rows.append({
                    "model": name, "dataset": dataset, "precision": precision, "compiled": compiled,
                    "img_per_s": round(speed[name], 1), "flop_per_img": round(flops[name]),
                    "peak_gflops": round(peaks[precision], 1),
                    "roofline_share": round(speed[name] * flops[name] / 1e9 / peaks[precision], 3),
                    "stn_over_cnn": round(speed[name] / speed["CNN"], 3) if "CNN" in speed else None,
                    "warmup_s": round(warmup[name], 1),
                    "data_share": round(render_s / (render_s + args.batch_size / speed[name]), 3),
                })
    return rows


def main() -> None:
    """Parse the arguments, measure, print a markdown table (or JSON lines)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--datasets", nargs="+", default=["mnist-rot", "mnist-trans"])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=sorted(DTYPES))
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8, help="batches per timing")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (inductor) steps")
    parser.add_argument("--family", default="affine", help="the STs' transform family (plankton long: rotation)")
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    peaks = {p: matmul_peak(p, device) for p in args.precisions}
    rows = [row for ds in args.datasets for row in bench_dataset(ds, args, device, peaks)]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return
    print(f"torch {torch.__version__}, {device}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
          f"{args.steps} steps x median of {args.repeats}; matmul peak GFLOP/s: "
          + ", ".join(f"{p} {v:.0f}" for p, v in peaks.items()) + "\n")
    print("| data set | precision | compiled | model | img/s | MFLOP/img | roofline share | / CNN | data share |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['dataset']} | {r['precision']} | {r['compiled']} | {r['model']} | {r['img_per_s']:.0f} | "
              f"{r['flop_per_img'] / 1e6:.1f} | {r['roofline_share']:.2f} | {r['stn_over_cnn']:.2f} | "
              f"{r['data_share']:.3f} |")


if __name__ == "__main__":
    main()
