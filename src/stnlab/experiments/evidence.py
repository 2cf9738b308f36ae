"""Evidence for the claims ledger that is not about the MNIST table: the theorems and the plankton study.

Each weigher reads committed files (``results/`` and, for the theorems, ``docs/figures/`` beside it) and
returns an :class:`Evidence`; :mod:`stnlab.experiments.claims` lists the claims and writes the ledger.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stnlab.experiments.report import read_report
from stnlab.experiments.results import aggregate, best_entry, budgets_by_rank, entry_at
from stnlab.experiments.tables import get_table

PLANKTON = "no committed plankton results yet (`stnlab reproduce plankton --budget cpu`)"


@dataclass(frozen=True)
class Evidence:
    """A verdict and what it rests on (markdown text naming files and numbers)."""

    verdict: str
    text: str


def read_json_or_none(path: Path) -> Any | None:
    """The parsed JSON file at ``path``, or None if there is none."""
    return json.loads(path.read_text()) if path.is_file() else None


def read_report_or_none(path: Path) -> dict[str, Any] | None:
    """The compensation report at ``path`` (:func:`~stnlab.experiments.report.read_report`), or None."""
    return read_report(path) if path.is_file() else None


def describe(e: dict[str, Any]) -> str:
    """A results entry as ``mean ± std (n=seeds, budget)``."""
    std = f" ± {e['std']:.2f}" if e["std"] is not None else ""
    return f"{e['mean']:.2f}{std} (n={len(e['errors'])}, {e['budget']})"


def _filter_rows(results: Path) -> dict[tuple[str, str], float] | None:
    data = read_json_or_none(results.parent / "docs/figures/filters/filters.json")
    return None if data is None else {(r["filters"], r["transform"]): r["optimum"] for r in data["rows"]}


def theorem_single_layer(results: Path) -> Evidence:
    """T1: one conv layer aligns only where its filters are invariant (`docs/figures/filters`)."""
    rows = _filter_rows(results)
    if rows is None:
        return Evidence("not run here", "no `docs/figures/filters/filters.json` (run `stnlab analyze filters`)")
    random = min(v for (f, _), v in rows.items() if f == "random")
    c4_90, c4_45 = rows[("c4", "rot90")], rows[("c4", "rot45")]
    ok = random > 0.3 and c4_90 < 1e-4 and c4_45 > 0.25
    return Evidence("reproduced" if ok else "not reproduced",
                    f"optimum residuals of one conv layer (`docs/figures/filters/filters.json`): random filters >= "
                    f"{random:.2f} for every rotation/scaling; 90°-symmetric filters {c4_90:.1e} at 90° but "
                    f"{c4_45:.2f} at 45° — alignment only where the filters are invariant")


def theorem_filter_symmetry(results: Path) -> Evidence:
    """T2: radial filters are invariant to every rotation, not to scalings (`docs/figures/filters`)."""
    rows = _filter_rows(results)
    if rows is None:
        return Evidence("not run here", "no `docs/figures/filters/filters.json`")
    radial = max(v for (f, t), v in rows.items() if f == "radial" and t.startswith("rot"))
    radial_scale = rows.get(("radial", "scale2"))
    ok = radial < 0.08 and (radial_scale is None or radial_scale > 0.25)
    extra = "" if radial_scale is None else f", but {radial_scale:.2f} for a scaling by 2"
    return Evidence("reproduced" if ok else "not reproduced",
                    f"radial (isotropic) filters align at every rotation angle (max optimum residual {radial:.3f})"
                    f"{extra}; 90°-symmetric filters only at multiples of 90° (previous claim)")


def theorem_multi_layer(results: Path) -> Evidence:
    """T3: shifts align at every depth of a random CNN, a scaling by 2 at none beyond 0; beside it, where
    analysed, the trained plankton networks (:func:`trained_alignment`)."""
    data = read_json_or_none(results.parent / "docs/figures/alignment-random/alignment.json")
    if data is None:
        return Evidence("not run here", "no `docs/figures/alignment-random/alignment.json`")
    opt = {(r["depth"], r["transform"]): r["optimum"]["mean"] for r in data["rows"]}
    deep = [d for d in data["depths"] if d > 0]
    scale = min(opt[(d, "scale2")] for d in deep)
    shift = max(opt[(d, t)] for d in data["depths"] for t in data["transforms"] if t.startswith("trans"))
    ok = scale > 0.3 and shift < 1e-4
    text = (f"random-weight MNIST CNN (`docs/figures/alignment-random/alignment.json`): a scaling by 2 leaves an "
            f"optimum residual >= {scale:.2f} at depths {deep}, while shifts align to {shift:.1e} at every depth")
    trained, agrees = trained_alignment(results)
    if ok and not agrees:
        return Evidence("partly", text + trained + " — a trained network's scaling aligned")
    return Evidence("reproduced" if ok else "not reproduced", text + trained)


PLANKTON_ALIGNMENT = "docs/figures/plankton-alignment"  # one folder per trained network (`analyze alignment`)


def trained_alignment(results: Path) -> tuple[str, bool]:
    """T3 on the trained plankton networks, where analysed (``stnlab analyze alignment --run RUN --dataset
    plankton --out docs/figures/plankton-alignment/MODEL``): the text, and whether every scaling leaves an
    optimum residual > 0.3 at every depth > 0 (the theorem's prediction)."""
    parts, agrees = [], True
    for path in sorted((results.parent / PLANKTON_ALIGNMENT).glob("*/alignment.json")):
        data = read_json_or_none(path)
        if data is None:
            continue
        opt = {(r["depth"], r["transform"]): r["optimum"]["mean"] for r in data["rows"]}
        deep = [d for d in data["depths"] if d > 0]
        least = {t: min(opt[(d, t)] for d in deep) for t in data["transforms"] if not t.startswith("trans")}
        shifts = {t: [opt[(d, t)] for d in deep] for t in data["transforms"] if t.startswith("trans")}
        agrees = agrees and all(v > 0.3 for t, v in least.items() if t.startswith("scale"))
        parts.append(f"{path.parent.name} (depths {deep[0]}–{deep[-1]}): "
                     + ", ".join(f"{t} >= {v:.2f}" for t, v in least.items())
                     + "".join(f", a shift {t} {min(v):.1e}–{max(v):.2f}" for t, v in shifts.items()))
    if not parts:
        return "", True
    return f"; trained plankton networks (`{PLANKTON_ALIGNMENT}/`, optimum residual): " + "; ".join(parts), agrees


# two-sided 95 % quantiles of Student's t for 1..10 degrees of freedom
T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)


def paired_difference(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any] | None:
    """``a - b`` (error points) over the seeds both entries have: mean, std, n and the 95 % t interval of the
    mean (None with fewer than two common seeds). Pairing by seed removes what the seeds share."""
    errors_b = dict(zip(b["seeds"], b["errors"]))
    diffs = [e - errors_b[s] for s, e in zip(a["seeds"], a["errors"]) if s in errors_b]
    n = len(diffs)
    if n < 2:
        return None
    mean = sum(diffs) / n
    std = (sum((d - mean) ** 2 for d in diffs) / (n - 1)) ** 0.5
    half = (T95[n - 2] if n - 2 < len(T95) else 1.96) * std / n**0.5
    return {"mean": mean, "std": std, "n": n, "low": mean - half, "high": mean + half, "diffs": diffs}


def _paper_error(row: str) -> float:
    """The paper's plankton error of ``row`` (typed once, in the table config)."""
    return get_table("plankton").paper(row, "error")


def _paired_verdict(c2: dict[str, Any], sl2: dict[str, Any], pair: dict[str, Any]) -> Evidence:
    """P-error from the seeds of STN-C2 and STN-SL2 at one budget: the interval of the paired difference."""
    where = "holds" if pair["low"] > 0 else "is reversed" if pair["high"] < 0 else "is within noise"
    text = (f"STN-C2 {describe(c2)}, STN-SL2 {describe(sl2)}; paired by seed, STN-C2 - STN-SL2 = "
            f"{pair['mean']:+.2f} points (95 % interval {pair['low']:+.2f} to {pair['high']:+.2f}, n={pair['n']}): the "
            f"paper's direction (STN-C2 errs more) {where} at the `{c2['budget']}` budget (`results/plankton.json`; "
            f"the paper: {_paper_error('STN-C2'):.1f} against {_paper_error('STN-SL2'):.1f})")
    if pair["low"] > 0:
        return Evidence("reproduced" if c2["budget"] in ("paper", "long") else "partly", text)
    return Evidence("partly" if pair["high"] >= 0 and pair["mean"] > 0 else "not reproduced", text)


def plankton_error(results: Path) -> Evidence:
    """P-error: STN-C2 errs more than the input STs of its budget, weighed against the test set's noise (or, with
    two or more seeds of STN-C2 and STN-SL2 at one budget, against the seeds' paired spread)."""
    entries = aggregate(get_table("plankton"), results)
    for budget in budgets_by_rank(entries):
        c2, sl2 = entry_at(entries, "STN-C2", "error", budget), entry_at(entries, "STN-SL2", "error", budget)
        pair = paired_difference(c2, sl2) if c2 and sl2 else None
        if pair is not None:
            return _paired_verdict(c2, sl2, pair)
    for budget in budgets_by_rank(entries):
        # STN-C2 against the input STs of the same budget: a comparison across budgets measures the budget
        got = {r: entry_at(entries, r, "error", budget) for r in ("STN-C2", "STN-SL2", "STN-DL2")}
        if got["STN-C2"] is not None and (got["STN-SL2"] or got["STN-DL2"]):
            got["CNN"] = best_entry(entries, "CNN", "error")  # shown only
            break
    else:
        return Evidence("not run here", PLANKTON)
    c2 = got["STN-C2"]
    inputs = {r: e for r, e in got.items() if r in ("STN-SL2", "STN-DL2") and e is not None}
    text = ", ".join(f"{r} {describe(e)}" for r, e in got.items() if e is not None) + " (`results/plankton.json`)"
    better = [r for r, e in inputs.items() if e["mean"] < c2["mean"]]
    worse = [r for r in inputs if r not in better]
    at_paper = all(e["budget"] == "paper" for e in (c2, *inputs.values()))
    text += (f"; transforming the input beats STN-C2 for {len(better)} of {len(inputs)} networks"
             + (f" ({', '.join(better)})" if better else "") + (f", not for {', '.join(worse)}" if worse else ""))
    gaps = [abs(e["mean"] - c2["mean"]) for e in inputs.values()]
    se = _error_rate_se(results, c2)
    if se is not None:
        text += (f"; gaps of {min(gaps):.2f}–{max(gaps):.2f} points against a standard error of "
                 f"{se[0]:.2f} points for one error rate on {se[1]} test images")
    if at_paper:
        verdict = "reproduced" if not worse else "partly" if better else "not reproduced"
        return Evidence(verdict, text)
    if se is not None and max(gaps) < 2 * se[0]:  # either way round: noise says nothing
        return Evidence("not run here", "at the paper budget: only reduced-budget runs so far, whose gaps are "
                        "within two standard errors (noise); " + text)
    text += " — not at the paper budget, so the errors are far above the paper's and the ordering is weak evidence"
    return Evidence("partly" if better else "not reproduced", text)


def _error_rate_se(results: Path, c2: dict) -> tuple[float, int] | None:
    """The binomial standard error (points) of STN-C2's test error rate and the test set size, if recorded."""
    ev = read_json_or_none(results / "runs" / "plankton" / c2["budget"] / "plankton" / "STN-C2" / "seed0" / "eval.json")
    if ev is None or not ev.get("num_samples"):
        return None
    p, n = c2["mean"] / 100, ev["num_samples"]
    return 100 * (p * (1 - p) / n) ** 0.5, n


def _plankton_report(results: Path) -> dict[str, Any] | None:
    """The plankton compensation report: its own file, else the section an older ``plankton.json`` held."""
    report = read_report_or_none(results / get_table("plankton").reports["error"])
    if report is None:
        section = (read_json_or_none(results / "plankton.json") or {}).get("compensation")
        report = read_report(section) if section else None
    return report


def plankton_compensation(results: Path) -> Evidence:
    """P-comp: the depth-2 feature-map ST rotates against the input, the depth-7 one does not."""
    name = get_table("plankton").reports["error"]
    report = _plankton_report(results)
    if report is None:
        return Evidence("not run here", f"no `results/{name}` yet (`stnlab canonical --table plankton`)")
    rows = {r["model"]: r for r in report["models"]}
    c2, c7 = rows.get("STN-C2"), rows.get("STN-C7")
    text = "; ".join(f"{m}: circular corr. {r['circ_corr']:+.2f}, slope {r['slope']:+.2f} ({r['budget']})"
                     for m, r in rows.items())
    text += f" (`results/{name}`, `results/figures/plankton-compensation.png`; -1 = full compensation)"
    if c2 is None:
        return Evidence("not run here", f"no STN-C2 row yet; so far: {text}")
    # compensating: consistently against the input (circular corr.) *and* by a visible amount (slope)
    c2_comp = c2["circ_corr"] <= -0.3 and c2["slope"] <= -0.1
    c7_none = c7 is not None and (abs(c7["circ_corr"]) < 0.15 or abs(c7["slope"]) < 0.05)
    # "stops compensating at depth 7" only means something once depth 2 compensates
    verdict = ("reproduced" if c7_none else "partly") if c2_comp else "not reproduced"
    if c7 is None:
        text += "; STN-C7 not measured yet at this budget"
    if not c2_comp:
        text += "; the depth-2 loc-net does not rotate against the input at this budget, so the contrast " \
                "with depth 7 cannot show"
    return Evidence(verdict, text)
