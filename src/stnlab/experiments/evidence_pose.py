"""Evidence for the claims ledger from the MNIST compensation reports (``stnlab canonical``): the canonical pose
of rotated and scaled digits (M-qual, M-qual-S) and the alignment of shifted ones by a feature-map ST
(M-align-T). Each weigher reads the column's report (:mod:`stnlab.experiments.report`, any shape it ever had)
and returns an :class:`~stnlab.experiments.evidence.Evidence`."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stnlab.experiments.evidence import Evidence, read_report_or_none
from stnlab.experiments.tables import get_table


def translation_alignment(results: Path) -> Evidence:
    """M-align-T: on T, STN-C1's feature-map ST undoes the shift (slope <= -0.7), as the theory allows."""
    reports = get_table("mnist-rst").reports
    name = reports["T"]
    data = read_report_or_none(results / name)
    rows = {} if data is None else {r["model"]: r for r in data["models"]}
    c1 = rows.get("STN-C1")
    if c1 is None:
        so_far = "; ".join(f"{m}: slope {r['slope']:+.2f} (budget {r['budget']})" for m, r in rows.items())
        return Evidence("not run here", f"no STN-C1 row in `results/{name}` yet (`stnlab canonical --column T "
                        "--models STN-C1` on the trained MNIST-T model)" + (f"; so far: {so_far}" if so_far else ""))
    text = "; ".join(f"{m}: slope {r['slope']:+.2f}, class std {r['class_std']:.1f} px (budget {r['budget']}, "
                     f"seed {r['seed']})" for m, r in rows.items()) + f" (`results/{name}`, full compensation: -1)"
    rot = read_report_or_none(results / reports["R"])
    rot_c1 = None if rot is None else next((r for r in rot["models"] if r["model"] == "STN-C1"), None)
    if rot_c1 is not None:
        text += f"; for contrast, STN-C1 on rotations: slope {rot_c1['slope']:+.2f}"
    verdict = "reproduced" if c1["slope"] <= -0.7 else "partly" if c1["slope"] <= -0.3 else "not reproduced"
    if c1["budget"] != "paper":
        text += f" — at the `{c1['budget']}` budget, not the paper's"
    return Evidence(verdict, text)


# the canonical-pose reports of `stnlab canonical` per column (file: the table's `reports`): unit, format,
# class-std target (None: none)
_CANONICAL = {"R": ("°", ".1f", 25.0), "S": (" oct", ".2f", None)}


def _spread_breakdown(row: dict[str, Any], unit: str, fmt: str) -> str:
    """Where a compensation row's class std comes from: its digits' spreads and the spread by applied value."""
    by_class, applied, spread = row.get("class_std_by_class"), row.get("applied"), row.get("canonical_std")
    if not by_class or not applied or not spread:
        return ""
    worst = sorted(by_class.items(), key=lambda kv: -kv[1])
    half = 0.5 * max(abs(v) for v in applied)
    mid = [s for a, s in zip(applied, spread, strict=True) if abs(a) < half]
    text = (f"; where STN-SL1's spread is (seed {row['seed']}): by digit {worst[-1][1]:{fmt}}–{worst[0][1]:{fmt}}"
            f"{unit} (largest: " + ", ".join(f"{k} {v:{fmt}}{unit}" for k, v in worst[:3]) + ")")
    if mid:
        text += (f"; at one applied value, all digits together: {min(mid):{fmt}}–{max(mid):{fmt}}{unit} within "
                 f"±{half:.0f}, {spread[0]:{fmt}}{unit} / {spread[-1]:{fmt}}{unit} at {applied[0]:+.0f} / "
                 f"{applied[-1]:+.0f}")
    return text


def canonical_pose(column: str) -> Callable[[Path], Evidence]:
    """M-qual, M-qual-S: STN-SL1 brings the digits of ``column`` to one pose (slope <= -0.7, class std within
    the target), STN-C1 at least 0.2 less steep; from the column's compensation report."""
    unit, fmt, std_target = _CANONICAL[column]
    name = get_table("mnist-rst").reports[column]

    def weigh(results: Path) -> Evidence:
        data = read_report_or_none(results / name)
        if data is None:
            return Evidence("not run here", f"no `results/{name}` yet (`stnlab canonical --column {column}` on the "
                                            f"trained MNIST-{column} models)")
        rows = {r["model"]: r for r in data["models"]}
        sl1, c1 = rows.get("STN-SL1"), rows.get("STN-C1")
        if sl1 is None or c1 is None:
            return Evidence("not run here", f"STN-SL1 or STN-C1 missing from `results/{name}`")
        text = "; ".join(f"{m}: slope {r['slope']:+.2f}, class std {r['class_std']:{fmt}}{unit} (budget "
                         f"{r['budget']}, seed {r['seed']})" for m, r in rows.items())
        seeds = sorted({r["seed"] for r in data.get("per_seed", [])})
        if len(seeds) > 1:  # judge the mean over the measured seeds
            mean = {m: {k: statistics.fmean(r[k] for r in data["per_seed"] if r["model"] == m)
                        for k in ("slope", "class_std")} for m in ("STN-SL1", "STN-C1")}
            sl1, c1 = {**sl1, **mean["STN-SL1"]}, {**c1, **mean["STN-C1"]}
            text += (f"; mean over seeds {', '.join(map(str, seeds))}: STN-SL1 slope {sl1['slope']:+.2f}, class "
                     f"std {sl1['class_std']:{fmt}}{unit}; STN-C1 slope {c1['slope']:+.2f} (per seed: " + ", ".join(
                         f"{r['model']} s{r['seed']} {r['slope']:+.2f}/{r['class_std']:{fmt}}{unit}"
                         for r in data["per_seed"]) + ")")
        text += f" (`results/{name}`, full compensation: slope -1)"
        std_ok = std_target is None or sl1["class_std"] <= std_target
        ok = sl1["slope"] <= -0.7 and std_ok and c1["slope"] > sl1["slope"] + 0.2
        partly = sl1["slope"] <= -0.3 and sl1["slope"] < c1["slope"]  # SL1 compensates at least in part
        if partly and not ok:
            target = "" if std_target is None else f" with a class std <= {std_target:.0f}{unit}"
            text += (f"; the canonical pose is reached only in part: the target is STN-SL1 slope <= -0.70{target} "
                     "and STN-C1 at least 0.2 less steep")
            if not std_ok:
                text += _spread_breakdown(rows["STN-SL1"], unit, fmt)
        if not partly:
            text += (f"; STN-SL1 does not bring the digits to a canonical pose (class std {sl1['class_std']:{fmt}}"
                     f"{unit} vs {sl1['baseline_std']:{fmt}}{unit} without compensation), so only 'C1 does not "
                     "compensate' holds")
        if sl1["budget"] != "paper":
            text += f" — at the `{sl1['budget']}` budget, not the paper's"
        return Evidence("reproduced" if ok else "partly" if partly else "not reproduced", text)

    return weigh


__all__ = ["canonical_pose", "translation_alignment"]
