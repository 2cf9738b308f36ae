"""``stnlab reproduce TABLE``, ``stnlab tables`` and ``stnlab claims``: the papers' tables and claims."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from stnlab.errors import StnlabError
from stnlab.experiments import (
    aggregate,
    format_results_markdown,
    get_table,
    run_table,
    tables,
    update_readme,
    write_table_results,
)
from stnlab.experiments.canonical import COLUMNS, canonical_report, figure_name
from stnlab.experiments.claims import write_claims
from stnlab.experiments.plankton_study import plankton_report
from stnlab.experiments.status import format_status, run_status
from stnlab.experiments.weights import export_weights
from stnlab.train import parse_sets

DEFAULT_BUDGET = "paper"  # of `reproduce` and `reproduce --status` alike


def register(subparsers: Any) -> None:
    """Add the ``reproduce``, ``tables``, ``claims``, ``canonical`` and ``export-weights`` sub-commands."""
    _add_reproduce(subparsers)
    _add_results(subparsers)
    _add_canonical(subparsers)
    _add_export_weights(subparsers)


def _add_reproduce(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "reproduce", help="train + evaluate every cell of a paper table, print ours beside the paper's",
        description="Train and evaluate each cell x seed of a paper table that has no result yet (finished runs "
                    "are kept, interrupted ones resumed), copy the small run files into the results folder, and "
                    "print the table with our numbers (mean +- std over seeds) beside the paper's.",
    )
    p.add_argument("table", metavar="TABLE", help="a table name (see 'stnlab tables')")
    p.add_argument("--budget", default=None,
                   help=f"paper (the full protocol), cpu or smoke (default: {DEFAULT_BUDGET}, also for --status; "
                        f"the budget used is printed first)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per cell (default: the budget's, 3 for paper)")
    p.add_argument("--runs", default="runs", help="folder of the run folders with checkpoints (default: runs)")
    p.add_argument("--results", default="results", help="folder of the committed results (default: results)")
    p.add_argument("--cell", dest="cells", action="append", default=[], metavar="CELL",
                   help="only these cells: a model, a row, a column or a key like mnist-rot/STN-C1 (repeatable)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a training config key for every cell, e.g. --set epochs=5 (recorded in the "
                        "budget's folder name; host keys such as threads or ckpt_every are not, and may change "
                        "when an interrupted run resumes)")
    p.add_argument("--passes", type=int, default=None, help="transformed test passes (default: the paper's 10)")
    p.add_argument("--jobs", type=int, default=1,
                   help="train N runs at once, each pinned to 1/N of the cores with as many threads (default: 1)")
    p.add_argument("--status", action="store_true",
                   help="train nothing; print each run's state (finished, in progress: how far, time left; "
                        "committed: only under --results)")
    p.add_argument("--collect-only", action="store_true", help="train nothing; collect what has finished")
    p.add_argument("--data-root", default=None, help="data folder (default: $STNLAB_DATA or the user cache)")
    p.add_argument("--cache-dir", default=None, help="cache folder (default: $STNLAB_CACHE or the user cache)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run_reproduce)


def _add_results(subparsers: Any) -> None:
    t = subparsers.add_parser("tables", help="list the paper tables (or print them from committed results)",
                              description="List the paper tables stnlab reproduces, with their commands.")
    t.add_argument("--markdown", action="store_true", help="print every table as markdown from the results folder")
    t.add_argument("--results", default="results", help="the results folder (default: results)")
    t.add_argument("--write-readme", metavar="README", help="regenerate the results block of this README file")
    t.set_defaults(func=run_tables)

    c = subparsers.add_parser("claims", help="the claims ledger: every claim of the papers with our evidence",
                              description="Evaluate every claim of the two papers against the committed results "
                                          "and write the ledger (markdown).")
    c.add_argument("--results", default="results", help="the results folder (default: results)")
    c.add_argument("--out", default=None, help="write here (default: RESULTS/CLAIMS.md)")
    c.set_defaults(func=run_claims)


def _add_canonical(subparsers: Any) -> None:
    q = subparsers.add_parser("canonical", help="do the trained STNs undo the input's rotation/scaling/"
                                                "translation (canonical pose)?",
                              description="Measure the compensation of a table's trained STNs. mnist-rst: "
                                          "STN-SL1, STN-C0, STN-C1 of column R -> RESULTS/mnist-compensation.json "
                                          "and RESULTS/figures/mnist-canonical.png (column S: "
                                          "mnist-compensation-scale.json, mnist-canonical-scale.png; column T: "
                                          "mnist-compensation-trans.json, mnist-canonical-trans.png); "
                                          "plankton: STN-C2, STN-C7, "
                                          "STN-SL2, STN-DL2 -> RESULTS/plankton-compensation.json and "
                                          "RESULTS/figures/plankton-compensation.png (one report schema: "
                                          "stnlab.experiments.report).")
    q.add_argument("--table", default="mnist-rst", choices=("mnist-rst", "mnist-eq", "plankton"),
                   help="which table's runs (default: mnist-rst; mnist-eq: STN-C1-eq and STN-SL1-eq on R -> "
                        "RESULTS/mnist-eq-compensation.json, RESULTS/figures/mnist-eq-canonical.png)")
    q.add_argument("--column", default="R", choices=tuple(COLUMNS),
                   help="mnist-rst: R (rotations, default), S (scalings) or T (translations)")
    q.add_argument("--models", nargs="+", default=None, metavar="MODEL",
                   help="mnist-rst: measure only these of STN-SL1, STN-C0, STN-C1 and keep the others' rows of "
                        "the column's earlier report (same seeds, budget and images); the figure's digits show "
                        "the column's own model (STN-SL1; STN-C1 for T) only if it is measured; default: all three. "
                        "plankton: measure these of STN-C2, STN-C7, STN-SL2, STN-DL2 (default: every trained one) "
                        "and keep the others' rows of the earlier report (same seed, budget and images)")
    q.add_argument("--runs", default="runs", help="folder of the run folders (default: runs)")
    q.add_argument("--results", default="results", help="the results folder (default: results)")
    q.add_argument("--budget", default=None, help="the budget folder of the runs (default: paper for mnist-rst R, "
                                                  "cpu for mnist-rst S and plankton)")
    q.add_argument("--seed", type=int, nargs="+", default=[0],
                   help="which seeds' runs (default: 0); mnist-rst measures each and draws the first, plankton "
                        "uses the first")
    q.add_argument("--images", type=int, default=None, help="test images (default: 200 MNIST, 300 plankton)")
    q.add_argument("--data-root", default=None, help="data folder (default: $STNLAB_DATA or the user cache)")
    q.add_argument("--cache-dir", default=None, help="cache folder (default: $STNLAB_CACHE or the user cache)")
    q.set_defaults(func=run_canonical)


def _add_export_weights(subparsers: Any) -> None:
    w = subparsers.add_parser("export-weights", help="ship a trained run's weights with the package (developers)",
                              description="Copy the best checkpoint's weights of RUN_DIR into the package's "
                                          "pretrained weights (stnlab/weights/), with its test error and the "
                                          "error on a fixed test subset that the tests reproduce.")
    w.add_argument("run_dir", metavar="RUN_DIR", help="a run folder with best.pt and eval.json")
    w.add_argument("--weights-dir", default=None, help="target folder (default: the package's stnlab/weights)")
    w.add_argument("--data-root", default=None, help="data folder (default: $STNLAB_DATA or the user cache)")
    w.set_defaults(func=run_export_weights)


def _budget_line(table: Any, budget: str, default: bool, runs: Path) -> str:
    """``TABLE: budget B (the default; ...)``, naming the other budgets that have run folders under ``runs``."""
    others = sorted({p.name.split("+")[0] for p in (runs / table.name).glob("*") if p.is_dir()} - {budget})
    seen = f"; run folders also exist for budget(s) {', '.join(others)} (--budget NAME)" if others else ""
    how = f"the default; --budget {'|'.join(b for b in table.budgets if b != budget)} for the others" if default \
        else "from --budget"
    return f"{table.name}: budget {budget} ({how}){seen}"


def run_reproduce(args: argparse.Namespace) -> int:
    """Run (or collect) one table and print it."""
    table = get_table(args.table)
    sets = parse_sets(args.sets)
    budget = args.budget or DEFAULT_BUDGET
    table.budget(budget)  # a one-line error for an unknown one, before anything is printed
    print(_budget_line(table, budget, args.budget is None, Path(args.runs)))
    if args.status:
        print(format_status(run_status(table, args.runs, budget=budget, seeds=args.seeds, cells=args.cells,
                                       sets=sets, results=args.results)))
        return 0
    run_table(table, args.runs, budget=budget, seeds=args.seeds, results=args.results, cells=args.cells,
              sets=sets, collect_only=args.collect_only, passes=args.passes, progress=not args.no_progress,
              jobs=args.jobs, root=args.data_root, cache_dir=args.cache_dir)
    data = write_table_results(table, args.results)
    print(format_results_markdown(table, data["cells"]))
    return 0


def run_tables(args: argparse.Namespace) -> int:
    """List the tables, print them from the results folder, or regenerate the README block."""
    if args.write_readme:
        changed = update_readme(args.write_readme, tables(), args.results)
        print(f"{'updated' if changed else 'unchanged'}: {args.write_readme}")
        return 0
    for name, table in sorted(tables().items()):
        if args.markdown:
            print(format_results_markdown(table, aggregate(table, args.results)), end="\n\n")
        else:
            print(f"{name:16s} {len(table.cells):2d} cells  budgets: {', '.join(table.budgets)}  {table.title}  "
                  f"(stnlab reproduce {name})")
    return 0


def run_claims(args: argparse.Namespace) -> int:
    """Write the claims ledger and say where."""
    path = write_claims(args.results, args.out)
    print(f"wrote {path}")
    return 0


def run_canonical(args: argparse.Namespace) -> int:
    """Write the compensation JSON and figure of a table's trained STNs; print the statistics."""
    if args.images is not None and args.images < 1:
        raise StnlabError(f"--images must be >= 1, got {args.images}")
    if args.table == "plankton":
        data = plankton_report(args.runs, args.results, budget=args.budget or "cpu", seed=args.seed[0],
                               images=args.images or 300, root=args.data_root, cache_dir=args.cache_dir,
                               models=args.models)
        report = get_table("plankton").reports["error"]
        wrote = f"{args.results}/{report} and {args.results}/figures/plankton-compensation.png"
    else:
        data = canonical_report(args.runs, args.results, column=args.column, budget=args.budget, seeds=args.seed,
                                images=args.images or 200, root=args.data_root, models=args.models, table=args.table)
        table = get_table(args.table)
        report, figure = table.reports[args.column], figure_name(table, args.column)
        wrote = f"{args.results}/{report} and {args.results}/figures/{figure}"
    for row in data.get("per_seed", []):
        print(f"{row['model']} seed {row['seed']}: slope {row['slope']:+.3f}, class std {row['class_std']:.2f} "
              f"{data.get('unit', 'deg')}")
    for row in data["models"]:
        circ = "" if row.get("circ_corr") is None else f", circular corr. {row['circ_corr']:+.3f}"
        print(f"{row['model']}: slope {row['slope']:+.3f}, r2 {row['r2']:.2f}{circ}, "
              f"class std {row['class_std']:.2f} {data.get('unit', 'deg')}")
    print(f"wrote {wrote}")
    return 0


def run_export_weights(args: argparse.Namespace) -> int:
    """Export one run's weights and print its index entry's errors."""
    entry = export_weights(args.run_dir, args.weights_dir, root=args.data_root)
    print(f"wrote {entry['file']}: test error {entry['test_error']:.4f}, subset error {entry['subset_error']:.4f} "
          f"({entry['subset']['samples']} images)")
    return 0
