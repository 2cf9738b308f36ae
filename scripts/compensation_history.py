"""Does a loc-net learn to undo the input's rotation as it trains? Compensation at saved checkpoints of one run.

For each checkpoint file given (copies of a run's ``last.pt`` kept as it trained), rotate the same test images
by -180..180 degrees and measure the first ST's rotation against the input's (:func:`stnlab.analysis.compensation`:
within-image slope, R^2 and circular correlation, -1 = full compensation; the class spread of the canonical
angle), beside the validation error and the ST's angle spread of the run's record at that step.

    STNLAB_DATA=../shared/data python scripts/compensation_history.py RUN CKPT [CKPT ...] [--images 200] [--out F.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from stnlab.analysis.compensation import compensation
from stnlab.data import make_source
from stnlab.io import write_json
from stnlab.train import load_run_state

ANGLES = [float(a) for a in range(-180, 181, 30)]


def test_images(dataset: str, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` shuffled test images of ``dataset`` (the same draw for every checkpoint) and their labels."""
    source = make_source(dataset, "test", seed=seed)
    batch = next(iter(source.batches(min(n, source.num_samples), shuffle=True, epoch=0)))
    return batch.images, batch.labels


def record_at(run: Path, step: int) -> dict:
    """The run's validation record at ``step`` (the last one at or before it), or {}."""
    path = run / "metrics.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    before = [r for r in rows if r.get("step", 0) <= step]
    return before[-1] if before else {}


def history(run: Path, checkpoints: list[Path], images: int) -> list[dict]:
    """One row per checkpoint, in training order."""
    rows, x, y = [], None, None
    for ckpt in checkpoints:
        model, cfg, state = load_run_state(run, str(ckpt))
        if x is None:
            x, y = test_images(cfg.dataset, images)
        res = compensation(model, x, y, kind="rotation", values=ANGLES)
        rec = record_at(run, int(state["step"]))
        st = (rec.get("st") or [{}])[0].get("angle_deg", {})
        rows.append({"checkpoint": ckpt.name, "step": int(state["step"]), "epoch": rec.get("epoch"),
                     "val_error": rec.get("val_error"), "val_angle_std": st.get("std"), "slope": res.slope,
                     "r2": res.r2, "circ_corr": res.circ_corr, "class_std": res.class_std,
                     "baseline_std": res.baseline_std, "error_at_0": float(res.error[ANGLES.index(0.0)])})
        print(f"{ckpt.name}: step {rows[-1]['step']}, slope {res.slope:+.2f}, circ. corr. {res.circ_corr:+.2f}, "
              f"class std {res.class_std:.1f} (none: {res.baseline_std:.1f})", flush=True)
    return sorted(rows, key=lambda r: r["step"])


def main() -> None:
    """Measure and write the JSON (model, images, angles, rows)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("checkpoints", type=Path, nargs="+")
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = history(args.run, args.checkpoints, args.images)
    cfg = json.loads((args.run / "config.json").read_text())
    report = {"run": str(args.run), "model": cfg["model"], "dataset": cfg["dataset"], "images": args.images,
              "angles": ANGLES, "rows": rows,
              "note": "test images rotated by each angle; the first ST's rotation against the input's: slope and "
                      "circular correlation (-1 = full compensation), class std of the canonical angle"}
    if args.out:
        write_json(args.out, report)


if __name__ == "__main__":
    main()
