"""``stnlab reproduce TABLE`` and ``stnlab tables``: the papers' tables, one command each."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``reproduce`` and ``tables`` sub-commands."""
    p = subparsers.add_parser(
        "reproduce", help="train + evaluate every cell of a paper table, print ours beside the paper's",
        description="Train and evaluate each cell of a paper table that has no result yet (finished cells are "
                    "kept, interrupted ones resumed), then print the table with our numbers beside the paper's.",
    )
    p.add_argument("table", metavar="TABLE", help="a table name (see 'stnlab tables')")
    p.add_argument("--runs", default="runs", help="folder of the run folders (default: runs)")
    p.add_argument("--cell", dest="cells", action="append", default=[], metavar="CELL",
                   help="only these cells: a model, a row, a column or a key like mnist-rot/STN-C1 (repeatable)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a training config key for every cell, e.g. --set epochs=5")
    p.add_argument("--passes", type=int, default=None, help="transformed test passes (default: the paper's 10)")
    p.add_argument("--collect-only", action="store_true", help="train nothing; print what has finished")
    p.add_argument("--data-root", default=None, help="data folder (default: $STNLAB_DATA or the user cache)")
    p.add_argument("--cache-dir", default=None, help="cache folder (default: $STNLAB_CACHE or the user cache)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run_reproduce)

    t = subparsers.add_parser("tables", help="list the paper tables (or print them as markdown)",
                              description="List the paper tables stnlab reproduces, with their commands.")
    t.add_argument("--markdown", action="store_true", help="print every table as markdown (ours / paper)")
    t.add_argument("--runs", default="runs", help="where to look for finished runs (default: runs)")
    t.set_defaults(func=run_tables)


def run_reproduce(args: argparse.Namespace) -> int:
    """Run (or collect) one table and print it."""
    from stnlab.experiments import format_markdown, get_table, run_table
    from stnlab.train import parse_sets

    table = get_table(args.table)
    sets = parse_sets(args.sets)
    results = run_table(table, args.runs, cells=args.cells, sets=sets, collect_only=args.collect_only,
                        passes=args.passes, progress=not args.no_progress, root=args.data_root,
                        cache_dir=args.cache_dir)
    print(format_markdown(table, results))
    return 0


def run_tables(args: argparse.Namespace) -> int:
    """List the tables, or print all of them as markdown with whatever results exist."""
    from stnlab.experiments import collect, format_markdown, tables

    for name, table in sorted(tables().items()):
        if args.markdown:
            print(format_markdown(table, collect(table, args.runs)), end="\n\n")
        else:
            print(f"{name:16s} {len(table.cells):2d} cells  {table.title}  (stnlab reproduce {name})")
    return 0
