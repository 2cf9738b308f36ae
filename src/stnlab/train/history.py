"""A run's training history as a table: errors and what each ST did, one row per validation.

Read from the run's ``metrics.jsonl`` (:mod:`stnlab.train.metrics`; the ST statistics are those of
:mod:`stnlab.train.diagnostics`), so it works on a finished, running or interrupted run, and on the
small files committed under ``results/runs/``. Per ST the row holds the mean determinant of its
sampling matrix (< 1 zooms in), the share of its sampling grid outside the input, the spread of its
angle, and — on data with a transform protocol — the compensation slope and R^2 of each varied
parameter (-1 = full compensation, 0 = none; for an ST on feature maps, whose shifts are in its layer's
units, also the shift slopes in input coordinates: ``input slope``). ``stnlab analyze history RUN`` prints it.
"""

from __future__ import annotations

from typing import Any


def history_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per validation record: ``epoch``, ``step``, ``train_error``, ``val_error`` and, for each
    ST ``I``, ``stI det``, ``stI outside``, ``stI angle std``, ``stI QUANTITY slope|R^2`` and (an ST on
    feature maps, on shifted data) ``stI tx|ty input slope``."""
    rows = []
    for rec in records:
        if rec.get("val_error") is None:
            continue
        row: dict[str, Any] = {k: rec.get(k) for k in ("epoch", "step", "train_error", "val_error")}
        for st in rec.get("st", []):
            key = f"st{st['index']}"
            row[f"{key} det"] = st["det"]["mean"]
            row[f"{key} outside"] = st["outside"]["mean"]
            row[f"{key} angle std"] = st["angle_deg"]["std"]
            for quantity, fit in st.get("compensation", {}).items():
                row[f"{key} {quantity} slope"] = fit["slope"]
                row[f"{key} {quantity} R^2"] = fit["r2"]
            for quantity, fit in st.get("compensation_input", {}).items():  # an ST on feature maps
                row[f"{key} {quantity} input slope"] = fit["slope"]
        rows.append(row)
    return rows


def _cell(column: str, value: Any) -> str:
    if value is None:
        return "—"
    if column in ("train_error", "val_error") or column.endswith("outside"):
        return f"{100 * value:.2f}"
    if column == "step":
        return str(value)
    if column.endswith("slope"):
        return f"{value:+.2f}"
    return f"{value:.2f}"


def _header(column: str) -> str:
    return {"train_error": "train err %", "val_error": "val err %"}.get(
        column, column.replace("outside", "outside %").replace("angle std", "angle std (deg)"))


def format_history(rows: list[dict[str, Any]], markdown: bool = False) -> str:
    """The rows of :func:`history_rows` as an aligned text table (or a Markdown table)."""
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    table = [[_header(c) for c in columns]] + [[_cell(c, row.get(c)) for c in columns] for row in rows]
    if markdown:
        lines = ["| " + " | ".join(r) + " |" for r in table]
        return "\n".join(lines[:1] + ["| " + " | ".join("---" for _ in columns) + " |"] + lines[1:])
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    return "\n".join("  ".join(v.rjust(w) for v, w in zip(r, widths)).rstrip() for r in table)


__all__ = ["format_history", "history_rows"]
