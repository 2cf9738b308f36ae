"""The qualitative MNIST result: does a trained STN bring rotated digits to one canonical pose?

For the trained runs of ``mnist-rst`` (one budget, one or more seeds), :func:`canonical_report` measures the
rotation compensation of STN-SL1, STN-C0 and STN-C1 on test digits (:func:`stnlab.analysis.compensation`:
slope of predicted on applied angle, -1 = full compensation; per-class std of the canonical angle) and
writes ``mnist-compensation.json`` and ``figures/mnist-canonical.png`` into the results folder: digits
rotated by -90..90 degrees, what STN-SL1 makes of them, and the predicted-vs-applied angle of each model.
Command: ``stnlab canonical --runs RUNS --budget paper --seed 0 1 2`` (the figure from the first seed).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from stnlab.analysis.compensation import CompensationResult, aligned_views, compensation  # noqa: E402
from stnlab.data import make_source  # noqa: E402
from stnlab.errors import StnlabError  # noqa: E402
from stnlab.experiments.reproduce import run_dir  # noqa: E402
from stnlab.experiments.tables import get_table  # noqa: E402
from stnlab.io import atomic_write, write_json  # noqa: E402
from stnlab.train import load_run  # noqa: E402

MODELS = ("STN-SL1", "STN-C0", "STN-C1")
ANGLES = [float(a) for a in range(-90, 91, 30)]


def _test_digits(n: int, seed: int, root: str | Path | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` upright MNIST test digits (the plain ``mnist`` split, 1 x 28 x 28) and their labels."""
    source = make_source("mnist", "test", root=root, seed=seed)
    batch = next(iter(source.batches(n, shuffle=True, epoch=0)))
    return batch.images, batch.labels


def _figure(views: tuple[torch.Tensor, torch.Tensor], results: dict[str, CompensationResult], title: str) -> Any:
    """Top: rotated digits and what STN-SL1 makes of them; bottom: predicted vs applied angle per model."""
    transformed, aligned = views  # V x N x 1 x H x W each
    v, n = transformed.shape[:2]
    fig = plt.figure(figsize=(1.1 * v + 1.5, 1.1 * 2 * n + 4.2))
    grid = fig.add_gridspec(2 * n + 1, v, height_ratios=[1] * (2 * n) + [4.0], hspace=0.35)
    for j in range(n):
        for i in range(v):
            for row, imgs, label in ((2 * j, transformed, "input"), (2 * j + 1, aligned, "STN-SL1 output")):
                ax = fig.add_subplot(grid[row, i])
                ax.imshow(imgs[i, j, 0].numpy(), cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([]), ax.set_yticks([])
                if i == 0:
                    ax.set_ylabel(label, fontsize=7)
                if row == 0:
                    ax.set_title(f"{ANGLES[i]:+.0f}°", fontsize=8)
    ax = fig.add_subplot(grid[-1, :])
    for name, res in results.items():
        mean = res.predicted.mean(1)
        ax.plot(res.applied.numpy(), mean.numpy(), marker="o",
                label=f"{name}: slope {res.slope:+.2f}, class std {res.class_std:.0f}°")
    ax.plot([-90, 90], [90, -90], "k--", lw=0.8, label="full compensation (slope -1)")
    ax.axhline(0, color="grey", lw=0.8, label="no compensation")
    ax.set_xlabel("applied rotation of the input (degrees)")
    ax.set_ylabel("rotation the ST applies (degrees)")
    ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


def _trained(table: Any, runs: str | Path, budget: str, seed: int) -> dict[str, tuple[Path, torch.nn.Module]]:
    """The trained run folder and model of each of :data:`MODELS` for one seed; StnlabError if one is missing."""
    found = {}
    for name in MODELS:
        folder = run_dir(table, table.cell(name, "R"), runs, budget, seed)
        if not (folder / "best.pt").is_file():
            raise StnlabError(f"no trained {name} run in {folder}; run `stnlab reproduce mnist-rst --cell "
                              f"mnist-rot/{name} --budget {budget} --seeds {seed + 1}` first")
        found[name] = (folder, load_run(folder)[0])
    return found


def canonical_report(runs: str | Path, results: str | Path, *, budget: str = "paper",
                     seeds: Sequence[int] = (0,), images: int = 200,
                     root: str | Path | None = None) -> dict[str, Any]:
    """Measure compensation of the trained MNIST-R STNs; write the JSON and the figure into ``results``.

    The first of ``seeds`` gives the ``models`` rows and the figure; every seed's runs are measured on the
    same test digits (drawn with the first seed) and listed in ``per_seed``.
    """
    if not seeds:
        raise StnlabError("give at least one seed (--seed 0)")
    table = get_table("mnist-rst")
    trained = {seed: _trained(table, runs, budget, seed) for seed in seeds}  # all found before any work
    x, y = _test_digits(images, seeds[0], root)
    per_seed, comp = [], {}
    for seed, found in trained.items():
        for name, (_, model) in found.items():
            c = compensation(model, x, y, kind="rotation", values=ANGLES)
            comp.setdefault(seed, {})[name] = c
            per_seed.append({"model": name, "seed": seed, "slope": c.slope, "r2": c.r2, "class_std": c.class_std})
    first, found = comp[seeds[0]], trained[seeds[0]]
    rows = [{"model": name, "run": str(folder), "budget": budget, "seed": seeds[0], "slope": first[name].slope,
             "r2": first[name].r2, "class_std": first[name].class_std, "baseline_std": first[name].baseline_std,
             "applied": first[name].applied.tolist(), "predicted_mean": first[name].predicted.mean(1).tolist()}
            for name, (folder, _) in found.items()]
    data = {"table": "mnist-rst", "column": "R", "images": images, "models": rows, "per_seed": per_seed,
            "note": "slope of the applied rotation on the input's rotation within each image (-1: full "
                    "compensation); class_std: per-class std of the canonical angle (degrees); per_seed: "
                    "every measured seed on the same test digits"}
    out = Path(results)
    write_json(out / "mnist-compensation.json", data)
    views = aligned_views(found["STN-SL1"][1], x[:3], "rotation", ANGLES)
    fig = _figure(views, first, f"MNIST-R, {budget} budget, seed {seeds[0]}: rotated test digits and the STNs' "
                                "compensation")
    (out / "figures").mkdir(parents=True, exist_ok=True)
    try:
        atomic_write(out / "figures" / "mnist-canonical.png", lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    finally:
        plt.close(fig)
    return data
