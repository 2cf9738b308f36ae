"""Print the recipe-search probes under ``results/recipe-search/`` as one markdown table (docs/training.md).

Each probe folder holds a run's ``config.json`` and ``metrics.jsonl``; a row shows the recipe keys that vary
between probes and the last validation record: error, and for the first ST the spread of its predicted angle
and the slope / R^2 of predicted vs applied angle (-1 = the loc-net undoes the rotation fully).

    python scripts/recipe_probes.py [results/recipe-search] [--prefix warmup-]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

KEYS = ("family", "loc_lr_multiplier", "transform_warmup", "precision")


def probe_row(folder: Path) -> str | None:
    """One markdown row for the probe in ``folder`` (None if it has no validation record)."""
    cfg = json.loads((folder / "config.json").read_text())
    lines = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line.strip()]
    if not lines:
        return None
    last = lines[-1]
    st = (last.get("st") or [{}])[0]
    comp = st.get("compensation", {}).get("angle_deg", {})
    if cfg.get("steps"):
        length = f"{cfg['steps']} steps" + ("" if last["step"] >= cfg["steps"] else f" (stopped at {last['step']})")
    else:
        length = f"{cfg['epochs']}" + ("" if last["epoch"] >= cfg["epochs"] else f" (stopped at {last['epoch']:g})")
    cells = [folder.name, cfg["model"], length, f"{cfg['lr']:g}"]
    cells += [str(cfg.get(k, {"transform_warmup": 0.0, "precision": "fp32"}.get(k))) for k in KEYS]
    cells += [f"{100 * last['val_error']:.2f}", f"{st.get('angle_deg', {}).get('std', float('nan')):.1f}",
              _num(comp.get("slope"), "+.2f"), _num(comp.get("r2"), ".2f")]
    return "| " + " | ".join(cells) + " |"


def _num(value: float | None, fmt: str) -> str:
    """``value`` formatted, or an em dash where the data set returns no applied transform to compare with."""
    return "—" if value is None else format(value, fmt)


def main() -> None:
    """Print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", default="results/recipe-search")
    ap.add_argument("--prefix", default="warmup-", help="only probe folders whose name starts with this")
    args = ap.parse_args()
    head = ["probe", "model", "epochs", "lr", *KEYS, "val. error %", "angle std (deg)", "slope", "R^2"]
    print("| " + " | ".join(head) + " |")
    print("|" + " --- |" * len(head))
    for folder in sorted(Path(args.root).glob(f"{args.prefix}*")):
        row = probe_row(folder) if (folder / "config.json").is_file() else None
        if row:
            print(row)


if __name__ == "__main__":
    main()
