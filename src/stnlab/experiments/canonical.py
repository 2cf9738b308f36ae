"""The qualitative MNIST result: does a trained STN bring rotated (scaled) digits to one canonical pose?

For the trained runs of one column of ``mnist-rst`` (R: rotations, S: scalings; one budget, one or more
seeds), :func:`canonical_report` measures the compensation of STN-SL1, STN-C0 and STN-C1 on test digits
(:func:`stnlab.analysis.compensation`: slope of the predicted on the applied parameter, -1 = full
compensation; per-class std of the canonical parameter) and writes a JSON report and a figure into the
results folder: digits transformed over the protocol's range, what STN-SL1 makes of them, and the
predicted-vs-applied parameter of each model. Units: degrees for R, octaves (log2 of the scale factor) for S.

Commands: ``stnlab canonical --runs RUNS --budget paper --seed 0 1 2`` (R: ``mnist-compensation.json``,
``figures/mnist-canonical.png``) and ``stnlab canonical --column S --runs RUNS --budget cpu`` (S:
``mnist-compensation-scale.json``, ``figures/mnist-canonical-scale.png``); the figure from the first seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from stnlab.analysis.compensation import CompensationResult, aligned_views, compensation  # noqa: E402
from stnlab.data import CANVAS, make_source  # noqa: E402
from stnlab.errors import StnlabError  # noqa: E402
from stnlab.experiments.reproduce import run_dir  # noqa: E402
from stnlab.experiments.tables import get_table  # noqa: E402
from stnlab.io import atomic_write, write_json  # noqa: E402
from stnlab.train import load_run  # noqa: E402

MODELS = ("STN-SL1", "STN-C0", "STN-C1")


@dataclass(frozen=True)
class Column:
    """What the canonical-pose report measures on one column of the table."""

    kind: str  # the compensation kind (stnlab.analysis.compensation)
    values: tuple[float, ...]  # applied values: degrees / scale factors
    dataset: str  # the column's data set: its canvas is the networks' input size
    budget: str  # the default budget folder of the runs (the JSON report's name: the table's ``reports``)
    figure: str  # PNG file in RESULTS/figures
    unit: str  # the unit of the reported parameters
    per_unit: float  # report value = content value (degrees / natural log-scale) * per_unit


COLUMNS = {
    "R": Column("rotation", tuple(float(a) for a in range(-90, 91, 30)), "mnist-rot", "paper",
                "mnist-canonical.png", "deg", 1.0),
    "S": Column("scale", tuple(2.0 ** (k / 2) for k in range(-2, 5)), "mnist-scale", "cpu",
                "mnist-canonical-scale.png", "octaves", 1 / math.log(2)),
}


def _test_digits(n: int, seed: int, root: str | Path | None, canvas: int = 28) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` upright MNIST test digits (the plain ``mnist`` split) centred on a ``canvas`` side, and their labels."""
    source = make_source("mnist", "test", root=root, seed=seed)
    batch = next(iter(source.batches(n, shuffle=True, epoch=0)))
    side = batch.images.shape[-1]
    pad = (canvas - side) // 2
    return F.pad(batch.images, (pad, canvas - side - pad) * 2), batch.labels  # N x 1 x canvas x canvas


def _figure(views: tuple[torch.Tensor, torch.Tensor], results: dict[str, CompensationResult], col: Column,
            title: str) -> Any:
    """Top: transformed digits and what STN-SL1 makes of them; bottom: predicted vs applied parameter per model."""
    transformed, aligned = views  # V x N x 1 x H x W each
    v, n = transformed.shape[:2]
    fig = plt.figure(figsize=(1.1 * v + 1.5, 1.1 * 2 * n + 4.2))
    grid = fig.add_gridspec(2 * n + 1, v, height_ratios=[1] * (2 * n) + [4.0], hspace=0.35, top=0.94, bottom=0.06)
    for j in range(n):
        for i in range(v):
            for row, imgs, label in ((2 * j, transformed, "input"), (2 * j + 1, aligned, "STN-SL1 output")):
                ax = fig.add_subplot(grid[row, i])
                ax.imshow(imgs[i, j, 0].numpy(), cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([]), ax.set_yticks([])
                if i == 0:
                    ax.set_ylabel(label, fontsize=7)
                if row == 0:
                    ax.set_title(f"{col.values[i]:+.0f}°" if col.kind == "rotation" else f"x{col.values[i]:.2g}",
                                 fontsize=8)
    ax = fig.add_subplot(grid[-1, :])
    for name, res in results.items():
        ax.plot(res.applied.numpy() * col.per_unit, res.predicted.mean(1).numpy() * col.per_unit, marker="o",
                label=f"{name}: slope {res.slope:+.2f}, class std {res.class_std * col.per_unit:.2g} {col.unit}")
    lo, hi = (float(res.applied.min() * col.per_unit), float(res.applied.max() * col.per_unit))
    ax.plot([lo, hi], [-lo, -hi], "k--", lw=0.8, label="full compensation (slope -1)")
    ax.axhline(0, color="grey", lw=0.8, label="no compensation")
    what = "rotation" if col.kind == "rotation" else "scaling"
    ax.set_xlabel(f"applied {what} of the input ({col.unit})")
    ax.set_ylabel(f"{what} the ST applies ({col.unit})")
    ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


def _trained(table: Any, runs: str | Path, column: str, budget: str,
             seed: int) -> dict[str, tuple[Path, torch.nn.Module]]:
    """The trained run folder and model of each of :data:`MODELS` for one seed; StnlabError if one is missing."""
    found = {}
    for name in MODELS:
        cell = table.cell(name, column)
        folder = run_dir(table, cell, runs, budget, seed)
        if not (folder / "best.pt").is_file():
            raise StnlabError(f"no trained {name} run in {folder}; run `stnlab reproduce mnist-rst --cell "
                              f"{cell.key} --budget {budget} --seeds {seed + 1}` first")
        found[name] = (folder, load_run(folder)[0])
    return found


def _row(name: str, folder: Path, budget: str, seed: int, c: CompensationResult, col: Column) -> dict[str, Any]:
    """One model's report row, in the column's units."""
    return {"model": name, "run": str(folder), "budget": budget, "seed": seed, "slope": c.slope, "r2": c.r2,
            "class_std": c.class_std * col.per_unit, "baseline_std": c.baseline_std * col.per_unit,
            "applied": (c.applied * col.per_unit).tolist(),
            "predicted_mean": (c.predicted.mean(1) * col.per_unit).tolist(),
            "canonical_mean": (c.canonical().mean(1) * col.per_unit).tolist(),  # per applied value
            "canonical_std": (c.canonical().std(1, unbiased=False) * col.per_unit).tolist(),
            "class_std_by_class": {str(k): v * col.per_unit for k, v in c.class_std_by_class().items()}}


def canonical_report(runs: str | Path, results: str | Path, *, column: str = "R", budget: str | None = None,
                     seeds: Sequence[int] = (0,), images: int = 200,
                     root: str | Path | None = None) -> dict[str, Any]:
    """Measure compensation of one column's trained STNs; write the JSON and the figure into ``results``.

    The first of ``seeds`` gives the ``models`` rows and the figure; every seed's runs are measured on the
    same test digits (drawn with the first seed) and listed in ``per_seed``.
    """
    if column not in COLUMNS:
        raise StnlabError(f"unknown column {column!r} for the canonical pose; valid: {', '.join(COLUMNS)}")
    if not seeds:
        raise StnlabError("give at least one seed (--seed 0)")
    col = COLUMNS[column]
    budget = budget or col.budget
    table = get_table("mnist-rst")
    trained = {seed: _trained(table, runs, column, budget, seed) for seed in seeds}  # all found before any work
    x, y = _test_digits(images, seeds[0], root, CANVAS[col.dataset])
    per_seed, comp = [], {}
    for seed, found in trained.items():
        for name, (folder, model) in found.items():
            c = compensation(model, x, y, kind=col.kind, values=col.values)
            comp.setdefault(seed, {})[name] = c
            row = _row(name, folder, budget, seed, c, col)
            per_seed.append({k: row[k] for k in ("model", "seed", "slope", "r2", "class_std")})
    first, found = comp[seeds[0]], trained[seeds[0]]
    rows = [_row(name, folder, budget, seeds[0], first[name], col) for name, (folder, _) in found.items()]
    what = "rotation" if col.kind == "rotation" else "scaling"
    data = {"table": "mnist-rst", "column": column, "kind": col.kind, "unit": col.unit, "images": images,
            "models": rows, "per_seed": per_seed,
            "note": f"slope of the applied {what} on the input's {what} within each image (-1: full "
                    f"compensation); class_std: per-class std of the canonical {what} ({col.unit}); per_seed: "
                    "every measured seed on the same test digits"}
    out = Path(results)
    write_json(out / table.reports[column], data)
    views = aligned_views(found["STN-SL1"][1], x[:3], col.kind, col.values)
    fig = _figure(views, first, col, f"MNIST-{column}, {budget} budget, seed {seeds[0]}: "
                                     f"{'rotated' if col.kind == 'rotation' else 'scaled'} test digits and the "
                                     "STNs' compensation")
    (out / "figures").mkdir(parents=True, exist_ok=True)
    try:
        atomic_write(out / "figures" / col.figure, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    finally:
        plt.close(fig)
    return data
