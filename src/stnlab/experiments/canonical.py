"""The qualitative MNIST result: does a trained STN bring rotated (scaled, shifted) digits to one canonical pose?

For the trained runs of one column of ``mnist-rst`` (R: rotations, S: scalings, T: translations; one budget,
one or more seeds), :func:`canonical_report` measures the compensation of STN-SL1, STN-C0 and STN-C1 on test
digits (:func:`stnlab.analysis.compensation`: slope of the predicted on the applied parameter, -1 = full
compensation; per-class std of the canonical parameter) and writes a JSON report and a figure into the
results folder: digits transformed over the protocol's range, what one ST makes of them (STN-SL1 for R and S;
STN-C1 for T, where the theory says a feature-map ST *can* align), and the predicted-vs-applied parameter of
each model. Units: degrees for R, octaves (log2 of the scale factor) for S, input pixels (shift to the right)
for T.

Commands: ``stnlab canonical --runs RUNS --budget paper --seed 0 1 2`` (R: ``mnist-compensation.json``,
``figures/mnist-canonical.png``), ``stnlab canonical --column S --runs RUNS --budget cpu`` (S:
``mnist-compensation-scale.json``, ``figures/mnist-canonical-scale.png``) and ``--column T`` (T:
``mnist-compensation-trans.json``, ``figures/mnist-canonical-trans.png``); the figure from the first seed.
``--models STN-C0`` measures only those models and keeps the other models' rows of an earlier report made
with the same seeds, budget and number of digits (checkpoints need not outlive a session: each model can be
measured as soon as it is trained).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure

from stnlab.analysis.compensation import aligned_views, compensation, st_depths
from stnlab.analysis.figures import save_figure
from stnlab.data import BUILTIN, TransformKind, get_kind, pick_images
from stnlab.errors import StnlabError
from stnlab.experiments.report import SEED_KEYS, kept_rows, make_report, report_row
from stnlab.experiments.reproduce import finished_run, run_dir, unfinished_hint
from stnlab.experiments.results import run_label
from stnlab.experiments.tables import get_table
from stnlab.io import write_json
from stnlab.options import options_of
from stnlab.train import load_run

MODELS = ("STN-SL1", "STN-C0", "STN-C1")
# the STNs each table's report measures (mnist-eq: the rotation-equivariant extension, column R only)
TABLE_MODELS = {"mnist-rst": MODELS, "mnist-eq": ("STN-C1-eq", "STN-SL1-eq")}


@dataclass(frozen=True)
class Column:
    """What the canonical-pose report measures on one column of the table (units and words: its kind's)."""

    kind: str  # the transform kind (stnlab.data.kinds)
    values: tuple[float, ...]  # applied values: degrees / scale factors / pixels
    dataset: str  # the column's data set: its canvas is the networks' input size
    budget: str  # the default budget folder of the runs (the JSON report's name: the table's ``reports``)
    figure: str  # PNG file in RESULTS/figures
    view_model: str  # the figure's top rows show what this model's ST does to the transformed digits

    @property
    def spec(self) -> TransformKind:
        """The registered transform kind."""
        return get_kind(self.kind)


COLUMNS = {
    "R": Column("rotation", tuple(float(a) for a in range(-90, 91, 30)), "mnist-rot", "paper",
                "mnist-canonical.png", "STN-SL1"),
    "S": Column("scale", tuple(2.0 ** (k / 2) for k in range(-2, 5)), "mnist-scale", "cpu",
                "mnist-canonical-scale.png", "STN-SL1"),
    # shifts along x within the protocol's U{-16..16} (the digit stays on the 60-px canvas)
    "T": Column("translation", tuple(float(v) for v in range(-16, 17, 8)), "mnist-trans", "paper",
                "mnist-canonical-trans.png", "STN-C1"),
}


def figure_name(table: Any, column: str) -> str:
    """The figure of a column's report: mnist-rst's from :data:`COLUMNS`, another table's named after its report
    (``mnist-eq-compensation.json`` -> ``mnist-eq-canonical.png``)."""
    if table.name == "mnist-rst":
        return COLUMNS[column].figure
    return Path(table.reports[column]).stem.replace("compensation", "canonical") + ".png"


def _figure(views: tuple[torch.Tensor, torch.Tensor], view_model: str, rows: Sequence[dict[str, Any]],
            col: Column, title: str) -> Any:
    """Top: transformed digits and what ``view_model``'s ST makes of them; bottom: predicted vs applied
    parameter of each report row (in the column's units)."""
    transformed, aligned = views  # V x N x 1 x H x W each
    v, n = transformed.shape[:2]
    fig = Figure(figsize=(1.1 * v + 1.5, 1.1 * 2 * n + 4.2))
    grid = fig.add_gridspec(2 * n + 1, v, height_ratios=[1] * (2 * n) + [4.0], hspace=0.35, top=0.94, bottom=0.06)
    for j in range(n):
        for i in range(v):
            for row, imgs, label in ((2 * j, transformed, "input"), (2 * j + 1, aligned, f"{view_model} output")):
                ax = fig.add_subplot(grid[row, i])
                ax.imshow(imgs[i, j, 0].numpy(), cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([]), ax.set_yticks([])
                if i == 0:
                    ax.set_ylabel(label, fontsize=7)
                if row == 0:
                    ax.set_title(col.spec.format_value(col.values[i]), fontsize=8)
    ax = fig.add_subplot(grid[-1, :])
    what, unit = col.spec.words[0], col.spec.unit
    for r in rows:
        ax.plot(r["applied"], r["predicted_mean"], marker="o",
                label=f"{r['model']}: slope {r['slope']:+.2f}, class std {r['class_std']:.2g} {unit}")
    lo, hi = min(rows[0]["applied"]), max(rows[0]["applied"])
    ax.plot([lo, hi], [-lo, -hi], "k--", lw=0.8, label="full compensation (slope -1)")
    ax.axhline(0, color="grey", lw=0.8, label="no compensation")
    ax.set_xlabel(f"applied {what} of the input ({unit})")
    ax.set_ylabel(f"{what} the ST applies ({unit})")
    ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


def _trained(table: Any, runs: str | Path, column: str, budget: str, seed: int,
             models: Sequence[str]) -> dict[str, tuple[Path, torch.nn.Module]]:
    """The trained run folder and model of each of ``models`` for one seed; StnlabError if one is missing or has
    not finished (:func:`~stnlab.experiments.reproduce.finished_run`)."""
    found = {}
    for name in models:
        cell = table.cell(name, column)
        folder = run_dir(table, cell, runs, budget, seed)
        if not finished_run(folder):
            raise StnlabError(unfinished_hint(folder, name, f"stnlab reproduce {table.name} --cell {cell.key} "
                                                            f"--budget {budget} --seeds {seed + 1}"))
        found[name] = (folder, load_run(folder)[0])
    return found


def _view_model(wanted: str, measured: Mapping[str, tuple[Path, torch.nn.Module]],
                kept: Sequence[dict[str, Any]], runs: str | Path) -> tuple[str, torch.nn.Module]:
    """The model whose outputs the figure shows: ``wanted`` if measured now, else its kept row's run under
    ``runs`` (while its checkpoint exists), else the first model measured now."""
    if wanted in measured:
        return wanted, measured[wanted][1]
    row = next((r for r in kept if r["model"] == wanted), None)
    folder = Path(runs) / row["run"] if row is not None else None  # an absolute (older) label stays absolute
    if folder is not None and (folder / "best.pt").is_file():
        return wanted, load_run(folder)[0]
    name = next(iter(measured))
    return name, measured[name][1]


def _seed_order(seed: int, seeds: Sequence[int]) -> tuple[int, int]:
    """Sort key of a ``per_seed`` row: the seeds measured now in their given order, then kept seeds by number."""
    return (seeds.index(seed), 0) if seed in seeds else (len(seeds), seed)


@dataclass(frozen=True)
class CanonicalOptions:
    """What :func:`canonical_report` measures: the table's ``column``, the runs' ``budget`` (default: the
    column's), the ``seeds`` (the first gives the rows and the figure), the number of test ``images``, the
    data ``root``, the ``models`` (default: all the table's STNs) and the ``table``."""

    column: str = "R"
    budget: str | None = None
    seeds: Sequence[int] = (0,)
    images: int = 200
    root: str | Path | None = None
    models: Sequence[str] | None = None
    table: str = "mnist-rst"


def canonical_report(runs: str | Path, results: str | Path, options: CanonicalOptions | None = None,
                     **keywords: Any) -> dict[str, Any]:
    """Measure compensation of one column's trained STNs; write the JSON and the figure into ``results``
    (``options`` / ``keywords``: :class:`CanonicalOptions`).

    The first of ``seeds`` gives the ``models`` rows and the figure; every seed's runs are measured on the
    same test digits (drawn with the first seed) and listed in ``per_seed``. ``models`` (default: all of
    :data:`MODELS`; another ``table``'s STNs: :data:`TABLE_MODELS`) measures only those and keeps the other
    models' rows of an earlier report (see :func:`~stnlab.experiments.report.kept_rows`).
    """
    o = options_of(CanonicalOptions, options, keywords, "canonical_report")
    column, seeds, images, root, models, table = o.column, list(o.seeds), o.images, o.root, o.models, o.table
    if column not in COLUMNS:
        raise StnlabError(f"unknown column {column!r} for the canonical pose; valid: {', '.join(COLUMNS)}")
    if not seeds:
        raise StnlabError("give at least one seed (--seed 0)")
    known = TABLE_MODELS.get(table, ())
    measured = list(known if not models else dict.fromkeys(models))
    if unknown := [m for m in measured if m not in known]:
        raise StnlabError(f"unknown model(s) {', '.join(unknown)} for the canonical pose of {table}; valid: "
                          f"{', '.join(known)}")
    col = COLUMNS[column]
    budget = o.budget or col.budget
    table = get_table(table)
    if column not in table.reports:
        raise StnlabError(f"{table.name} has no canonical-pose report for column {column}; valid: "
                          f"{', '.join(table.reports)}")
    out = Path(results)
    trained = {seed: _trained(table, runs, column, budget, seed, measured) for seed in seeds}  # all before any work
    kept, kept_per_seed = kept_rows(out / table.reports[column], measured, seeds, budget, images)
    x, y = pick_images(col.dataset, images, seed=seeds[0], canvas=BUILTIN[col.dataset].canvas, root=root)
    new: dict[int, dict[str, dict[str, Any]]] = {}
    for seed, found in trained.items():
        for name, (folder, model) in found.items():
            new.setdefault(seed, {})[name] = report_row(
                compensation(model, x, y, kind=col.kind, values=col.values), model=name,
                run=run_label(folder, runs), budget=budget, seed=seed, depth=st_depths(model)[0])
    rows = sorted([*new[seeds[0]].values(), *kept], key=lambda r: known.index(r["model"]))
    per_seed = [{k: r.get(k) for k in SEED_KEYS} for found in new.values() for r in found.values()] + kept_per_seed
    per_seed.sort(key=lambda r: (_seed_order(r["seed"], seeds), known.index(r["model"])))
    wanted = col.view_model if col.view_model in known else known[0]
    view_model, viewed = _view_model(wanted, trained[seeds[0]], kept, runs)
    what, unit = col.spec.words[0], col.spec.unit
    data = make_report(rows, kind=col.kind, dataset=col.dataset, images=images, values=col.values,
                       per_seed=per_seed, table=table.name, column=column, view_model=view_model,
                       note=f"slope of the applied {what} on the input's {what} within each image (-1: full "
                            f"compensation); class_std: per-class std of the canonical {what} ({unit}); per_seed: "
                            "every measured seed on the same test digits; view_model: the model whose outputs the "
                            "figure shows")
    views = aligned_views(viewed, x[:3], col.kind, col.values)
    write_json(out / table.reports[column], data)
    fig = _figure(views, view_model, rows, col, f"MNIST-{column}, {budget} budget, seed {seeds[0]}: "
                                                f"{col.spec.words[1]} test digits and the STNs' compensation")
    (out / "figures").mkdir(parents=True, exist_ok=True)
    save_figure(fig, out / "figures" / figure_name(table, column), dpi=110)
    return data
