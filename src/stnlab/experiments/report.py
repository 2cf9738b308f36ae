"""One compensation report: the schema that ``stnlab canonical`` (MNIST columns, plankton) and ``stnlab analyze
compensation`` (any run, the user's own data included) write, its one reader and its one markdown formatter.

A report (``"schema": "compensation/1"``) holds the transform ``kind`` (:mod:`stnlab.data.kinds`) and its report
``unit``, the ``dataset``, the number of test ``images``, the applied ``values`` (as given: degrees, scale
factors, pixels, ...), optionally the ``table`` and ``column`` it belongs to and the ``view_model`` of its
figure, and per network a row in ``models`` (one seed: the first measured) plus every measured seed's summary
in ``per_seed``. A row: ``model``, ``acts_on`` (where its ST acts), ``run``, ``budget``, ``seed``, ``st_index``;
``slope``, ``intercept``, ``r2``, ``circ_corr`` (kinds with a circular read-out only); ``class_std`` and
``baseline_std``; per applied value ``applied``, ``predicted_mean``, ``predicted_std``, ``canonical_mean``,
``canonical_std`` and the test ``error``; ``class_std_by_class``. Parameters are the kind's read-out times its
``per_unit`` (degrees; octaves for scalings; pixels). A field a report did not measure is ``null``:
:func:`read_report` also reads the three shapes written before this schema (the MNIST canonical report, the
plankton ``compensation`` section, ``analyze compensation``'s file) into it, filling what they lacked with
``null``; the committed reports were converted that way, from their stored numbers alone.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stnlab.analysis.compensation import CompensationResult
from stnlab.data import get_kind
from stnlab.errors import StnlabError
from stnlab.experiments.tables import budget_rank, get_table
from stnlab.io import read_json

SCHEMA = "compensation/1"
_ROW_KEYS = ("model", "acts_on", "run", "budget", "seed", "st_index", "slope", "intercept", "r2", "circ_corr",
             "class_std", "baseline_std", "applied", "predicted_mean", "predicted_std", "canonical_mean",
             "canonical_std", "error", "class_std_by_class")
SEED_KEYS = ("model", "seed", "slope", "r2", "class_std", "circ_corr")
_NAME = re.compile(r"^STN-(C|DL|SL)(\d)$")


def acts_on(model: str, depth: int | None = None) -> str | None:
    """Where the ST of ``model`` acts: ``input``, ``input (shared trunk)`` / ``(own trunk)`` for STN-SLX /
    STN-DLX, ``feature maps, depth X`` (``depth``: the ST's depth, else read from a one-digit name; None when
    neither tells)."""
    m = _NAME.match(model)
    kind = m.group(1) if m else "C"
    if depth is None and m:
        depth = int(m.group(2)) if kind == "C" else 0  # an STN-SLX / STN-DLX warps the input
    if depth is None:
        return None
    if depth > 0:
        return f"feature maps, depth {depth}"
    return {"SL": "input (shared trunk)", "DL": "input (own trunk)"}.get(kind, "input")


def report_row(result: CompensationResult, *, model: str, run: str | None, budget: str | None, seed: int | None,
               depth: int) -> dict[str, Any]:
    """One network's row (see the module docstring), in the kind's report unit; ``depth``: its ST's depth."""
    k = get_kind(result.kind).per_unit
    canonical = result.canonical()
    return {"model": model, "acts_on": acts_on(model, depth), "run": run, "budget": budget, "seed": seed,
            "st_index": result.st_index, "slope": result.slope, "intercept": result.intercept * k, "r2": result.r2,
            "circ_corr": result.circ_corr, "class_std": result.class_std * k, "baseline_std": result.baseline_std * k,
            "applied": (result.applied * k).tolist(), "predicted_mean": (result.predicted.mean(1) * k).tolist(),
            "predicted_std": (result.predicted.std(1, unbiased=False) * k).tolist(),
            "canonical_mean": (canonical.mean(1) * k).tolist(),
            "canonical_std": (canonical.std(1, unbiased=False) * k).tolist(), "error": result.error.tolist(),
            "class_std_by_class": {str(c): v * k for c, v in result.class_std_by_class().items()}}


def make_report(rows: Sequence[Mapping[str, Any]], *, kind: str, dataset: str, images: int,
                values: Sequence[float] | None, per_seed: Sequence[Mapping[str, Any]] | None = None,
                **extra: Any) -> dict[str, Any]:
    """A report of ``rows`` (``per_seed`` defaults to the rows' own seed summaries); ``extra``: ``table``,
    ``column``, ``view_model``, ``note``."""
    spec = get_kind(kind)
    seeds = [{k: r.get(k) for k in SEED_KEYS} for r in (rows if per_seed is None else per_seed)]
    return {"schema": SCHEMA, "kind": kind, "unit": spec.unit, "dataset": dataset, "images": images,
            "values": None if values is None else [float(v) for v in values], **extra,
            "models": [{k: r.get(k) for k in _ROW_KEYS} for r in rows], "per_seed": seeds}


def read_report(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """A report (a file or its parsed data) in the current schema: older shapes are converted, each field they
    did not record ``null``."""
    data = dict(read_json(source) if isinstance(source, (str, Path)) else source)
    if data.get("schema") == SCHEMA:
        return data
    if "st_index" in data and "models" not in data:  # analyze compensation's file: one run, content units
        return _from_analyze(data)
    if "angles" in data or "per_seed" not in data:  # plankton.json's compensation section
        return _from_plankton(data)
    return _from_canonical(data)  # the MNIST canonical report: report units already


def _from_canonical(data: Mapping[str, Any]) -> dict[str, Any]:
    extra = {k: data[k] for k in ("table", "column", "view_model", "note") if k in data}
    rows = [{**r, "acts_on": acts_on(r["model"]), "st_index": 0} for r in data.get("models", [])]
    return make_report(rows, kind=data.get("kind", "rotation"), dataset=_column_dataset(data),
                       images=data.get("images"), values=None, per_seed=data.get("per_seed", []), **extra)


def _from_analyze(data: Mapping[str, Any]) -> dict[str, Any]:
    k = get_kind(data["kind"]).per_unit
    scaled = ("intercept", "class_std", "baseline_std", "applied", "predicted_mean", "predicted_std",
              "class_std_by_class")
    row = {**data, "budget": None, "seed": None, "acts_on": acts_on(data["model"]),
           **{key: _scaled(data.get(key), k) for key in scaled}}
    return make_report([row], kind=data["kind"], dataset=data.get("dataset"), images=data.get("num_images"),
                       values=data.get("values"))


def _from_plankton(data: Mapping[str, Any]) -> dict[str, Any]:
    rows = [{**r, "acts_on": r.get("acts_on") or acts_on(r["model"]), "st_index": 0, "error": r.get("error_by_angle")}
            for r in data.get("models", [])]
    extra = {"note": data["note"]} if "note" in data else {}
    return make_report(rows, kind="rotation", dataset="plankton", images=data.get("images"), values=data.get("angles"),
                       table="plankton", **extra)


def _column_dataset(data: Mapping[str, Any]) -> str | None:
    """The data set of a table column (``mnist-rst`` R: ``mnist-rot``)."""
    cells = get_table(data.get("table", "mnist-rst")).cells
    return next((c.dataset for c in cells if c.column == data.get("column")), None)


def _scaled(value: Any, k: float) -> Any:
    if isinstance(value, dict):
        return {key: v * k for key, v in value.items()}
    if isinstance(value, list):
        return [v * k for v in value]
    return None if value is None else value * k


def _seed_stats(report: Mapping[str, Any], model: str, key: str, digits: int) -> str:
    """``mean ± std (n=k)`` of ``key`` over the measured seeds of ``model`` (fewer than two: ``—``)."""
    vals = [r[key] for r in report.get("per_seed", []) if r["model"] == model and r.get(key) is not None]
    if len(vals) < 2:
        return "—"
    sign = "+" if key == "slope" else ""
    return f"{statistics.mean(vals):{sign}.{digits}f} ± {statistics.stdev(vals):.{digits}f} (n={len(vals)})"


def kept_rows(path: Path, measured: Sequence[str], seeds: Sequence[int], budget: str,
               images: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ``models`` and ``per_seed`` rows of an earlier report at ``path`` for the models not measured now.

    They are kept only from a report made on the same images (same first seed, same number) at the same budget;
    StnlabError otherwise, so that one report never mixes two measurements. A report of another budget is
    replaced (no rows kept) when the new budget is at least as good (:func:`~stnlab.experiments.tables.budget_rank`),
    refused otherwise; a recipe variant's (``medium+key=value``) never replaces another budget's.
    Every seed's ``per_seed`` row of a kept model is kept, also of seeds not measured now (they were measured on
    the same images).
    """
    if not path.is_file():
        return [], []
    old = read_report(path)
    models = [r for r in old.get("models", []) if r["model"] not in measured]
    if not models:
        return [], []
    if all(r["budget"] != budget for r in models):  # another budget's measurement: a better one replaces it
        older = models[0]["budget"]
        if budget_rank(str(older)) < budget_rank(budget) or "+" in budget:
            raise StnlabError(f"{path} holds the `{older}` budget's measurement; a `{budget}` one would replace "
                              "it: give --results another folder (or move that file away) to keep both")
        return [], []
    same = old.get("images") == images and all(r["seed"] == seeds[0] and r["budget"] == budget for r in models)
    if not same:
        raise StnlabError(f"{path} was measured on other digits or runs ({old.get('images')} images, budget "
                          f"{models[0]['budget']}, seed {models[0]['seed']}); measure every model again (leave "
                          "out --models) or give the same --seed, --budget and --images")
    return models, [r for r in old.get("per_seed", []) if r["model"] not in measured]


def format_report_markdown(report: Mapping[str, Any]) -> str:
    """A report as a markdown table: the first seed's numbers per network, and the mean ± std over the measured
    seeds; a column is left out when no row measured it."""
    r = read_report(report)
    spec, unit = get_kind(r["kind"]), r["unit"]
    noun, done, quantity = spec.words
    d = spec.digits
    applied = [a for row in r["models"] for a in (row.get("applied") or [])]
    span = f" over {min(applied):+.{d}f}..{max(applied):+.{d}f} {unit}" if applied else ""
    where = f"{r['dataset']} (column {r['column']})" if r.get("column") else r["dataset"]
    cols = [("network", lambda x: x["model"]), ("ST acts on", lambda x: x.get("acts_on") or "—"),
            ("slope", lambda x: f"{x['slope']:+.2f}"), ("R^2", _opt("r2", ".2f")),
            ("circular corr.", _opt("circ_corr", "+.2f")), (f"class std ({unit})", _opt("class_std", f".{d}f")),
            ("without compensation", _opt("baseline_std", f".{d}f")),
            ("budget, seed", lambda x: f"{x.get('budget')}, {x.get('seed')}"),
            ("slope over seeds", lambda x: _seed_stats(r, x["model"], "slope", 2)),
            (f"class std over seeds ({unit})", lambda x: _seed_stats(r, x["model"], "class_std", d + 1))]
    cells = [[f(row) for _, f in cols] for row in r["models"]]
    keep = [i for i, (name, _) in enumerate(cols) if i < 3 or any(c[i] != "—" for c in cells)]
    seeds = "; over seeds: mean ± std over the measured seeds" if any("seeds" in cols[i][0] for i in keep) else ""
    caption = (f"**Compensation of {noun}s** ({r.get('images')} test images of {where}, {done}{span}; slope of the "
               f"ST's {quantity} against the applied one: -1 = full compensation, 0 = none; class std: the spread of "
               f"the {quantity} the ST brings each class to, against the spread without compensation{seeds})")
    lines = [caption, "", "| " + " | ".join(cols[i][0] for i in keep) + " |", "|" + " --- |" * len(keep)]
    lines += ["| " + " | ".join(c[i] for i in keep) + " |" for c in cells]
    return "\n".join(lines)


def _opt(key: str, fmt: str):
    return lambda row: "—" if row.get(key) is None else f"{row[key]:{fmt}}"


__all__ = ["SCHEMA", "SEED_KEYS", "acts_on", "format_report_markdown", "kept_rows", "make_report", "read_report",
           "report_row"]
