"""Profile training steps of one model (torch.profiler) and print the ops that take the most time.

    python benchmarks/profile_step.py STN-C0 [--dataset mnist-rot] [--precision bf16] [--threads 1]

The step is the one ``benchmarks/train_speed.py`` times (forward + backward + SGD, batch 256, channels_last,
on a batch rendered beforehand); after two warm-up steps, ``--steps`` steps are profiled and the top ops
by self CPU time are printed, with their share of the total, per step. Run it on a quiet machine: a busy
one stretches every op alike, so the shares stay meaningful but the milliseconds do not.
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from stnlab.data import make_source
from train_speed import make_step  # the same step as the speed table


def main() -> None:
    """Parse the arguments, profile, print."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--dataset", default="mnist-rot")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    batch = next(iter(make_source(args.dataset, "train").batches(256)))
    x, y = batch.images.contiguous(memory_format=torch.channels_last), batch.labels
    step, _ = make_step(args.model, args.dataset, args.precision, device, compiled=False)
    for _ in range(2):
        step(x, y)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            step(x, y)
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    print(f"{args.model} {args.dataset} {args.precision}, {torch.get_num_threads()} thread(s): "
          f"{total / 1e3 / args.steps:.1f} ms of op self time per step")
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[: args.top]:
        print(f"  {e.key:<45} {e.self_cpu_time_total / 1e3 / args.steps:8.2f} ms  "
              f"{100 * e.self_cpu_time_total / total:5.1f} %")


if __name__ == "__main__":
    main()
