"""Pretrained weights shipped with the package: ``create_model(name, dataset, pretrained=True)``.

``stnlab/weights/index.json`` lists each shipped model (``"<dataset>/<model>"``) with its weights file
(a weights-only ``state_dict``, loaded with ``torch.load(weights_only=True)``), its sha256, the run and
budget it comes from, its committed test error, and its error on a fixed test subset (the first
``samples`` test images, pass 0) that a test reproduces. ``stnlab export-weights RUN_DIR`` writes them
(developers). Weights load offline from the installed package; nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stnlab.errors import StnlabError

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"


def weights_index(weights_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """The shipped weights: ``{"<dataset>/<model>": entry}`` (empty when none are shipped)."""
    path = (weights_dir or WEIGHTS_DIR) / "index.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_pretrained(model: nn.Module, name: str, dataset: str, weights_dir: Path | None = None) -> nn.Module:
    """Load the shipped weights of ``name`` on ``dataset`` into ``model`` (checked by sha256); returns it."""
    weights_dir = weights_dir or WEIGHTS_DIR
    index = weights_index(weights_dir)
    key = f"{dataset}/{name}"
    if key not in index:
        shipped = ", ".join(sorted(index)) or "none yet"
        raise StnlabError(f"no pretrained weights for {name} on {dataset} (shipped: {shipped}); train it with "
                          f"`stnlab train --model {name} --dataset {dataset}` instead")
    entry = index[key]
    path = weights_dir / entry["file"]
    if not path.is_file() or sha256(path) != entry["sha256"]:
        raise StnlabError(f"the pretrained weights file {path} is missing or corrupt (sha256 mismatch); "
                          "reinstall stnlab")
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model
