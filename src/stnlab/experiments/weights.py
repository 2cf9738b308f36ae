"""Export a trained run's weights into the package's pretrained weights (``stnlab export-weights``).

Writes ``<weights>/<dataset>/<model>.pt`` (the best checkpoint's ``state_dict`` alone) and its entry in
``<weights>/index.json``: sha256, the run's config, budget and commit, its committed test error (the run's
``eval.json``), and the error on a fixed subset (the first ``samples`` test images, pass 0), which
``tests/test_pretrained.py`` reproduces from the installed weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from stnlab.errors import StnlabError
from stnlab.experiments.results import run_relpath
from stnlab.io import atomic_write, write_json
from stnlab.models.pretrained import WEIGHTS_DIR, sha256, weights_index
from stnlab.train import evaluate_run, load_run

SUBSET = 1000


def subset_error(run_dir: str | Path, samples: int = SUBSET, root: str | Path | None = None) -> float:
    """Test error of a run's best checkpoint on the first ``samples`` test images, one pass."""
    return evaluate_run(run_dir, split="test", passes=1, max_samples=samples, write=False, root=root,
                        device="cpu")["error"]


def detached_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``model.state_dict()`` in which entries that share a tensor (STN-SL's trunk, registered
    under the classifier and the loc-net) still share one copy, so the file holds it once."""
    copies: dict[tuple, torch.Tensor] = {}
    state = {}
    for key, value in model.state_dict().items():
        ident = (value.data_ptr(), tuple(value.shape), value.stride(), value.dtype)
        if ident not in copies:
            copies[ident] = value.detach().clone().contiguous()
        state[key] = copies[ident]
    return state


def _run_name(run_dir: Path, meta: dict[str, Any]) -> str:
    """The run as ``<table>/<budget>/<cell>/seed<k>`` (its folder under any runs root, and under
    ``results/runs/``) when ``cell.json`` says so, else its folder as given."""
    keys = ("table", "budget", "cell", "seed")
    if all(k in meta for k in keys):
        return run_relpath(meta["table"], meta["budget"], meta["cell"], int(meta["seed"]))
    return str(run_dir)


def export_weights(run_dir: str | Path, weights_dir: str | Path | None = None, samples: int = SUBSET,
                   root: str | Path | None = None) -> dict[str, Any]:
    """Copy the best checkpoint's weights of ``run_dir`` into ``weights_dir``; return the index entry."""
    run_dir = Path(run_dir)
    weights_dir = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    ev_path = run_dir / "eval.json"
    if not ev_path.is_file():
        raise StnlabError(f"{run_dir} has no eval.json; run `stnlab eval {run_dir}` first")
    ev = json.loads(ev_path.read_text())
    model, cfg = load_run(run_dir)
    meta = json.loads((run_dir / "cell.json").read_text()) if (run_dir / "cell.json").is_file() else {}
    target = weights_dir / cfg.dataset / f"{cfg.model}.pt"
    target.parent.mkdir(parents=True, exist_ok=True)
    state = detached_state(model)
    atomic_write(target, lambda tmp: torch.save(state, tmp))
    entry = {"file": f"{cfg.dataset}/{cfg.model}.pt", "sha256": sha256(target), "run": _run_name(run_dir, meta),
             "budget": meta.get("budget", "unknown"), "commit": meta.get("commit", "unknown"),
             "config": cfg.to_dict(), "test_error": ev["error"], "test_passes": ev.get("passes", 1),
             "subset": {"split": "test", "samples": samples, "passes": 1},
             "subset_error": subset_error(run_dir, samples, root)}
    index = weights_index(weights_dir)
    index[f"{cfg.dataset}/{cfg.model}"] = entry
    write_json(weights_dir / "index.json", dict(sorted(index.items())))
    return entry
