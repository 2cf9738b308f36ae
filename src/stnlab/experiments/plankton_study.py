"""Plankton: does a feature-map ST at depth 2 (and 7) rotate as if compensating the input's rotation?

For the trained runs of ``plankton`` (one seed, one budget), :func:`plankton_report` rotates test images by
-180..180 degrees and measures, with :func:`stnlab.analysis.compensation`, the rotation each ST applies,
mapped back to input coordinates for the feature-map STs (``L_X M L_X^-1``): the within-image slope of the
applied on the input's angle (-1 = full compensation, 0 = none) and the circular correlation (the same
sign convention; not misled by the 360-degree wrap). It writes the compensation report
(:mod:`stnlab.experiments.report`) ``<results>/plankton-compensation.json`` (the table's ``reports``), shown
under the table in ``<results>/plankton.md`` and the README, and the figure
``<results>/figures/plankton-compensation.png``. Command:
``stnlab canonical --table plankton --runs RUNS --budget cpu``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure

from stnlab.analysis.compensation import CompensationResult, compensation, st_depths
from stnlab.analysis.figures import save_figure
from stnlab.data import pick_images
from stnlab.errors import StnlabError
from stnlab.experiments.report import make_report, report_row
from stnlab.experiments.reproduce import run_dir
from stnlab.experiments.results import run_label, write_table_results
from stnlab.experiments.tables import get_table
from stnlab.io import write_json
from stnlab.train import load_run

MODELS = ("STN-C2", "STN-C7", "STN-SL2", "STN-DL2")
REQUIRED = ("STN-C2", "STN-C7")
ANGLES = [float(a) for a in range(-180, 181, 30)]


def _trained(runs: str | Path, budget: str, seed: int) -> dict[str, tuple[Path, Any]]:
    """The trained STNs of the plankton table found under ``runs``; an error when C2 or C7 is missing."""
    table = get_table("plankton")
    found = {}
    for name in MODELS:
        folder = run_dir(table, table.cell(name, "error"), runs, budget, seed)
        if (folder / "best.pt").is_file():
            found[name] = (folder, load_run(folder)[0])
        elif name in REQUIRED:
            raise StnlabError(f"no trained {name} run in {folder}; run `stnlab reproduce plankton --cell {name} "
                              f"--budget {budget}` first")
    return found


def _figure(results: dict[str, CompensationResult], rows: list[dict[str, Any]], title: str) -> Any:
    """Applied vs input angle per model: per-image points, the circular mean, the full-compensation line."""
    fig = Figure(figsize=(3.6 * len(results), 4.0))
    axes = fig.subplots(1, len(results), sharey=True, squeeze=False)
    for ax, (name, res), row in zip(axes[0], results.items(), rows):
        x = res.applied.numpy()
        pred = torch.remainder(res.predicted + 180.0, 360.0) - 180.0  # V x N, wrapped to [-180, 180)
        for j in range(min(pred.shape[1], 60)):
            ax.plot(x, pred[:, j].numpy(), ".", color="tab:blue", alpha=0.15, ms=3)
        rad = torch.deg2rad(res.predicted)
        mean = torch.rad2deg(torch.atan2(torch.sin(rad).mean(1), torch.cos(rad).mean(1)))
        ax.plot(x, mean.numpy(), "o-", color="tab:red", label="circular mean over images")
        ax.plot([-180, 180], [180, -180], "k--", lw=0.8, label="full compensation")
        ax.axhline(0, color="grey", lw=0.8, label="no compensation")
        ax.set_title(f"{name} ({row['acts_on']})\nslope {res.slope:+.2f}, circ. corr. {res.circ_corr:+.2f}",
                     fontsize=9)
        ax.set_xlabel("rotation of the input image (degrees)")
        ax.set_xlim(-190, 190), ax.set_ylim(-190, 190)
    axes[0][0].set_ylabel("rotation the ST applies\n(degrees, in input coordinates)")
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plankton_report(runs: str | Path, results: str | Path, *, budget: str = "cpu", seed: int = 0,
                    images: int = 300, root: str | Path | None = None,
                    cache_dir: str | Path | None = None) -> dict[str, Any]:
    """Measure the rotation compensation of the trained plankton STNs; write the report and the figure."""
    found = _trained(runs, budget, seed)
    x, y = pick_images("plankton", images, seed=seed, root=root, cache_dir=cache_dir)
    comp = {name: compensation(model, x, y, kind="rotation", values=ANGLES) for name, (_, model) in found.items()}
    rows = [report_row(comp[name], model=name, run=run_label(folder, runs), budget=budget, seed=seed,
                       depth=st_depths(model)[0]) for name, (folder, model) in found.items()]
    table = get_table("plankton")
    data = make_report(rows, kind="rotation", dataset="plankton", images=int(x.shape[0]), values=ANGLES,
                       table="plankton", note="test images rotated by each angle; slope of the ST's rotation (input "
                                              "coordinates) on the input's within each image and circular "
                                              "correlation: -1 = full compensation, 0 = none")
    out = Path(results)
    write_json(out / table.reports["error"], data)
    write_table_results(table, out)  # the .md shows the report under the table
    fig = _figure(comp, rows, f"PlanktonSet test images, {budget} budget, seed {seed}: does the ST undo the input's "
                              f"rotation? ({x.shape[0]} images)")
    (out / "figures").mkdir(parents=True, exist_ok=True)
    save_figure(fig, out / "figures" / "plankton-compensation.png")
    return data
