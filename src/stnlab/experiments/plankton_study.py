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

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure

from stnlab.analysis.compensation import CompensationResult, compensation, st_depths
from stnlab.analysis.figures import save_figure
from stnlab.data import pick_images
from stnlab.errors import StnlabError
from stnlab.experiments.report import SEED_KEYS, kept_rows, make_report, report_row
from stnlab.experiments.reproduce import finished_run, run_dir, unfinished_hint
from stnlab.experiments.results import run_label, write_table_results
from stnlab.experiments.tables import get_table
from stnlab.io import write_json
from stnlab.train import load_run

MODELS = ("STN-C2", "STN-C7", "STN-SL2", "STN-DL2")
ANGLES = [float(a) for a in range(-180, 181, 30)]


def _trained(runs: str | Path, budget: str, seed: int, models: Sequence[str] | None) -> dict[str, tuple[Path, Any]]:
    """The trained STNs of the plankton table under ``runs``: ``models`` (each must be trained), or every one of
    :data:`MODELS` that is (at least one). Trained = finished (:func:`~stnlab.experiments.reproduce.finished_run`);
    a run still training is left out, or refused when named."""
    table = get_table("plankton")
    if unknown := [m for m in models or () if m not in MODELS]:
        raise StnlabError(f"unknown plankton model(s) {', '.join(unknown)}; valid: {', '.join(MODELS)}")
    found = {}
    for name in models or MODELS:
        folder = run_dir(table, table.cell(name, "error"), runs, budget, seed)
        if finished_run(folder):
            found[name] = (folder, load_run(folder)[0])
        elif models:
            command = f"stnlab reproduce plankton --cell {name} --budget {budget}"
            raise StnlabError(unfinished_hint(folder, name, command))
    if not found:
        raise StnlabError(f"no trained plankton STN under {runs} at the {budget} budget, seed {seed}; run `stnlab "
                          f"reproduce plankton --budget {budget}` first")
    return found


def _figure(rows: list[dict[str, Any]], results: dict[str, CompensationResult], title: str) -> Any:
    """Applied vs input angle per model: per-image points and the circular mean (a row kept from an earlier
    measurement: its mean only), the full-compensation line."""
    fig = Figure(figsize=(3.6 * len(rows), 4.0))
    axes = fig.subplots(1, len(rows), sharey=True, squeeze=False)
    for ax, row in zip(axes[0], rows):
        res = results.get(row["model"])
        if res is not None:
            pred = torch.remainder(res.predicted + 180.0, 360.0) - 180.0  # V x N, wrapped to [-180, 180)
            for j in range(min(pred.shape[1], 60)):
                ax.plot(res.applied.numpy(), pred[:, j].numpy(), ".", color="tab:blue", alpha=0.15, ms=3)
            rad = torch.deg2rad(res.predicted)
            mean = torch.rad2deg(torch.atan2(torch.sin(rad).mean(1), torch.cos(rad).mean(1))).tolist()
        else:
            mean = [(m + 180.0) % 360.0 - 180.0 for m in row["predicted_mean"]]
        ax.plot(row["applied"], mean, "o-", color="tab:red",
                label="circular mean over images" if res is not None else "mean (kept from an earlier measurement)")
        ax.plot([-180, 180], [180, -180], "k--", lw=0.8, label="full compensation")
        ax.axhline(0, color="grey", lw=0.8, label="no compensation")
        circ = "" if row.get("circ_corr") is None else f", circ. corr. {row['circ_corr']:+.2f}"
        ax.set_title(f"{row['model']} ({row['acts_on']})\nslope {row['slope']:+.2f}{circ}", fontsize=9)
        ax.set_xlabel("rotation of the input image (degrees)")
        ax.set_xlim(-190, 190), ax.set_ylim(-190, 190)
        ax.legend(fontsize=6, loc="lower left")
    axes[0][0].set_ylabel("rotation the ST applies\n(degrees, in input coordinates)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plankton_report(runs: str | Path, results: str | Path, *, budget: str = "cpu", seed: int = 0,
                    images: int = 300, root: str | Path | None = None, cache_dir: str | Path | None = None,
                    models: Sequence[str] | None = None) -> dict[str, Any]:
    """Measure the rotation compensation of the trained plankton STNs (``models``, default every trained one);
    rows of other models in an earlier report of the same budget, seed and images are kept (checkpoints need
    not outlive a session: each network can be measured when it lands). Write the report and the figure."""
    found = _trained(runs, budget, seed, models)
    table = get_table("plankton")
    out = Path(results)
    kept, kept_per_seed = kept_rows(out / table.reports["error"], list(found), [seed], budget, images)
    x, y = pick_images("plankton", images, seed=seed, root=root, cache_dir=cache_dir)
    comp = {name: compensation(model, x, y, kind="rotation", values=ANGLES) for name, (_, model) in found.items()}
    new = [report_row(comp[name], model=name, run=run_label(folder, runs), budget=budget, seed=seed,
                      depth=st_depths(model)[0]) for name, (folder, model) in found.items()]
    rows = sorted([*new, *kept], key=lambda r: MODELS.index(r["model"]))
    per_seed = sorted([{k: r.get(k) for k in SEED_KEYS} for r in new] + kept_per_seed,
                      key=lambda r: MODELS.index(r["model"]))
    data = make_report(rows, kind="rotation", dataset="plankton", images=int(x.shape[0]), values=ANGLES,
                       per_seed=per_seed, table="plankton",
                       note="test images rotated by each angle; slope of the ST's rotation (input coordinates) on "
                            "the input's within each image and circular correlation: -1 = full compensation, "
                            "0 = none")
    write_json(out / table.reports["error"], data)
    write_table_results(table, out)  # the .md shows the report under the table
    fig = _figure(rows, comp, f"PlanktonSet test images, {budget} budget, seed {seed}: does the ST undo the input's "
                              f"rotation? ({x.shape[0]} images)")
    (out / "figures").mkdir(parents=True, exist_ok=True)
    save_figure(fig, out / "figures" / "plankton-compensation.png")
    return data
