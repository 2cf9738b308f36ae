"""The course of training of a table's networks, from their committed metrics: validation error and the
spread of the rotation each network's first ST applies across the validation images, at the first, a middle
and the last epoch.

The spread is the ST statistics' ``angle_deg.std`` of a record (:mod:`stnlab.train.diagnostics`): 0 means
the loc-net turns every image by the same angle (it has collapsed to a constant, or not left the identity); a
loc-net that brings images in any orientation to one pose needs a spread of the order of the orientations' own.
Generated, like the tables, from ``results/runs/<table>/<budget>/<dataset>/<model>/seed<k>/metrics.jsonl``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stnlab.experiments.tables import PaperTable
from stnlab.train import read_metrics


def epoch_records(path: Path) -> list[dict[str, Any]]:
    """The records of ``metrics.jsonl`` at ``path`` taken at epoch ends (the last of each epoch), in order."""
    by_epoch = {int(r["epoch"]): r for r in read_metrics(path)
                if float(r.get("epoch", 0)).is_integer() and r.get("val_error") is not None}
    return [by_epoch[e] for e in sorted(by_epoch) if e > 0]


def shown_epochs(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first, the middle and the last of ``records`` (fewer when there are fewer)."""
    picks = sorted({0, (len(records) - 1) // 2, len(records) - 1}) if records else []
    return [records[i] for i in picks]


def rotation_spread(record: dict[str, Any]) -> float | None:
    """The spread (std, degrees) of the first ST's rotation angle across the validation images, if recorded."""
    st = record.get("st") or []
    return st[0].get("angle_deg", {}).get("std") if st else None


def format_st_course(table: PaperTable, shown: Mapping[str, Mapping[str, Any]], results: str | Path) -> str | None:
    """A markdown table of ``shown`` (row -> the results entry the table shows for it): the first seed's
    validation error and rotation spread by epoch; None when no row's metrics are committed."""
    lines = []
    for row, entry in shown.items():
        cell = table.cell(row, entry["column"])
        if cell is None or not entry["seeds"]:
            continue
        path = Path(results) / "runs" / table.name / entry["budget"] / cell.key / f"seed{entry['seeds'][0]}"
        records = epoch_records(path / "metrics.jsonl") if (path / "metrics.jsonl").is_file() else []
        picks = shown_epochs(records)
        if not picks:
            continue
        spreads = [rotation_spread(r) for r in picks]
        spread = " / ".join(f"{s:.1f}" for s in spreads) if all(s is not None for s in spreads) else "— (no ST)"
        lines.append(f"| {row} | {entry['budget']}, {entry['seeds'][0]} | "
                     + " / ".join(f"{r['epoch']:g}" for r in picks) + " | "
                     + " / ".join(f"{100 * r['val_error']:.1f}" for r in picks) + f" | {spread} |")
    if not lines:
        return None
    head = (f"**Course of training** (the networks above, first seed: validation error and the spread of the "
            f"rotation angle its first ST applies across the validation images, at the first, a middle and the "
            f"last epoch; 0 = the same turn for every image; from `results/runs/{table.name}/.../metrics.jsonl`)")
    return "\n".join([head, "", "| network | budget, seed | epoch | validation error % | rotation spread (deg) |",
                      "| --- | --- | --- | --- | --- |", *lines])
