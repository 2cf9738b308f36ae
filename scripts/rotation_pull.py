"""Rotation pull of trained runs (last checkpoints) as JSON on stdout: the numbers in docs/training.md.

Usage: STNLAB_DATA=../shared/data python scripts/rotation_pull.py RUN_DIR... > rotation-pull.json
"""
import json
import sys

import torch

from stnlab.analysis.pull import rotation_pull
from stnlab.data import make_source
from stnlab.train import load_run

torch.set_num_threads(1)
b = next(make_source("mnist", "val").batches(500))
angles = [-90, -75, -60, -45, -30, -15, 0, 15, 30, 45, 60, 75, 90]
out = {"images": 500, "split": "mnist val (upright digits, then rotated)", "angles_deg": angles, "runs": {}}
for run in sys.argv[1:]:
    model, cfg = load_run(run, "last")
    pull = rotation_pull(model, b.images, b.labels, angles)
    parts = run.rstrip("/").split("/")
    name = "/".join(parts[-4:]) if parts[-1].startswith("seed") else parts[-1]  # budget/dataset/model/seedK
    out["runs"][name] = [round(v, 4) for v in pull.tolist()]
print(json.dumps(out, indent=1))
