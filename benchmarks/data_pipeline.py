"""Throughput of the batched MNIST protocol generators against a per-sample PIL implementation.

Usage (real MNIST needed)::

    STNLAB_DATA=../shared/data python benchmarks/data_pipeline.py [--batch-size 256] [--batches 20]

For R, T and S it prints images/s of ``MNISTSource.render`` (one ``grid_sample`` per batch, vectorised
clutter) and of a straightforward per-sample implementation of the same protocol written here with PIL
and numpy (what a ``Dataset.__getitem__`` + collate pipeline does), and their ratio. It also times one
training step (forward + backward + SGD) of the ``STN-C0`` model on a batch of ``mnist-rot``, to compare
the time to make a batch with the time to use it.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from PIL import Image

from stnlab.data import make_source

PROTOCOLS = {"R": "mnist-rot", "T": "mnist-trans", "S": "mnist-scale"}


def pil_rot(digit: np.ndarray, rng: np.random.Generator, pool: np.ndarray) -> np.ndarray:
    """mnist-rot for one sample: rotation U[-90, 90] degrees, bilinear."""
    angle = rng.uniform(-90.0, 90.0)
    return np.asarray(Image.fromarray(digit).rotate(angle, resample=Image.BILINEAR), dtype=np.float32) / 255


def pil_clutter(canvas: np.ndarray, rng: np.random.Generator, pool: np.ndarray, resize: bool) -> np.ndarray:
    """Add 6 crops of random pool digits (resized to 2k x 2k for S), then clip."""
    size = canvas.shape[0]
    for _ in range(6):
        src = pool[rng.integers(len(pool))]
        y, x = rng.integers(0, 23, size=2)
        patch = Image.fromarray(src[y : y + 6, x : x + 6])
        if resize:
            k = 2 * int(rng.integers(1, 10))
            patch = patch.resize((k, k), Image.BILINEAR)
        p = np.asarray(patch, dtype=np.float32) / 255
        py, px = rng.integers(0, size - p.shape[0] + 1, size=2)
        canvas[py : py + p.shape[0], px : px + p.shape[1]] += p
    return np.clip(canvas, 0.0, 1.0)


def pil_trans(digit: np.ndarray, rng: np.random.Generator, pool: np.ndarray) -> np.ndarray:
    """mnist-trans for one sample: 60x60 canvas, shift U{-16..16} px, 6 clutter crops."""
    canvas = Image.new("L", (60, 60))
    dx, dy = rng.integers(-16, 17, size=2)
    canvas.paste(Image.fromarray(digit), (16 + int(dx), 16 + int(dy)))
    return pil_clutter(np.asarray(canvas, dtype=np.float32) / 255, rng, pool, resize=False)


def pil_scale(digit: np.ndarray, rng: np.random.Generator, pool: np.ndarray) -> np.ndarray:
    """mnist-scale for one sample: 112x112 canvas, scale 2**U(-1, 2) about the centre, 6 resized crops."""
    s = 2.0 ** rng.uniform(-1.0, 2.0)
    canvas = Image.new("L", (112, 112))
    canvas.paste(Image.fromarray(digit), (42, 42))
    c = 56.0 * (1 - 1 / s)  # output -> input: x_in = x_out / s + c
    canvas = canvas.transform((112, 112), Image.AFFINE, (1 / s, 0, c, 0, 1 / s, c), resample=Image.BILINEAR)
    return pil_clutter(np.asarray(canvas, dtype=np.float32) / 255, rng, pool, resize=True)


PIL_IMPL = {"R": pil_rot, "T": pil_trans, "S": pil_scale}


def time_batched(source, batch_size: int, batches: int) -> float:
    """Images/s of ``source.render`` over ``batches`` batches (after one warm-up batch)."""
    order = source.order(0, shuffle=True)
    source.render(order[:batch_size], 0)
    t0 = time.perf_counter()
    for k in range(batches):
        source.render(order[k * batch_size : (k + 1) * batch_size], 0)
    return batches * batch_size / (time.perf_counter() - t0)


def time_pil(source, key: str, batch_size: int, samples: int) -> float:
    """Images/s of the per-sample PIL implementation, collated into float tensors of ``batch_size``."""
    digits, pool = source.images.numpy(), source.clutter_pool.numpy()
    rng = np.random.default_rng(0)
    fn = PIL_IMPL[key]
    t0 = time.perf_counter()
    done = 0
    while done < samples:
        idx = rng.integers(len(digits), size=batch_size)
        torch.from_numpy(np.stack([fn(digits[i], rng, pool) for i in idx]))[:, None]
        done += batch_size
    return done / (time.perf_counter() - t0)


def time_train_step(batch_size: int, steps: int = 5) -> float | None:
    """Seconds of one forward + backward + SGD step of STN-C0 on mnist-rot (None without the models)."""
    try:
        from stnlab.models import create_model
    except ImportError:
        return None
    model = create_model("STN-C0", "mnist-rot")
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.rand(batch_size, 1, 28, 28), torch.randint(0, 10, (batch_size,))
    times = []
    for _ in range(steps + 1):
        t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return float(np.median(times[1:]))


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", help="data root (default: $STNLAB_DATA)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--batches", type=int, default=20, help="batches timed for the batched generators")
    parser.add_argument("--pil-samples", type=int, default=2048, help="samples timed for the PIL baseline")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: the same as the PIL loop)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bs = args.batch_size
    print(f"torch {torch.__version__}, {args.threads} threads, batch size {bs}")
    print(f"{'protocol':<16}{'batched img/s':>15}{'PIL img/s':>12}{'ratio':>8}{'ms/batch':>10}")
    for key, name in PROTOCOLS.items():
        src = make_source(name, "train", root=args.root)
        fast = time_batched(src, bs, args.batches)
        slow = time_pil(src, key, bs, max(bs, math.ceil(args.pil_samples / bs) * bs))
        print(f"{key} ({name}){'':<{14 - len(name) - 3}}{fast:>15,.0f}{slow:>12,.0f}{fast / slow:>7.1f}x"
              f"{1000 * bs / fast:>10.1f}")
    step = time_train_step(bs)
    if step is not None:
        print(f"one STN-C0 training step on a mnist-rot batch of {bs}: {1000 * step:.1f} ms")


if __name__ == "__main__":
    main()
