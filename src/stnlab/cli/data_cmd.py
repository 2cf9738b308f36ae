"""``stnlab data status|fetch|import|prepare``: inspect and fill the data root, build the caches."""

from __future__ import annotations

import argparse

from stnlab import data


def _status(args: argparse.Namespace) -> int:
    print(f"data root: {data.data_root(args.root)}  (STNLAB_DATA)")
    print(f"cache:     {data.cache_root(args.cache_dir)}  (STNLAB_CACHE)")
    for name, ok, line in data.status(args.root):
        print(f"{name:<9} {'ok' if ok else 'MISSING':<8} {line}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    print(data.fetch(args.name, args.root, progress=not args.quiet))
    return 0


def _import(args: argparse.Namespace) -> int:
    for path in data.import_data(args.name, args.path, args.root):
        print(f"imported {path}")
    return 0


def _prepare(args: argparse.Namespace) -> int:
    print(data.manage.prepare(args.name, args.root, args.cache_dir))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``stnlab data`` and its sub-commands."""
    parser = subparsers.add_parser("data", help="inspect, fetch and import data sets")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", help="data root (default: $STNLAB_DATA or ~/.cache/stnlab/data)")
    p = sub.add_parser("status", parents=[common], help="show which data sets are present and valid")
    p.add_argument("--cache-dir", help="cache folder (default: $STNLAB_CACHE or ~/.cache/stnlab/cache)")
    p.set_defaults(func=_status)
    p = sub.add_parser("fetch", parents=[common], help="download a data set (md5-checked) into the data root")
    p.add_argument("name", choices=data.manage.DATASETS)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_fetch)
    p = sub.add_parser("import", parents=[common], help="validate local files and copy them into the data root")
    p.add_argument("name", choices=data.manage.DATASETS)
    p.add_argument("path", help="folder (or archive) holding the data set's files")
    p.set_defaults(func=_import)
    p = sub.add_parser("prepare", parents=[common], help="decode a data set into the cache now (plankton, svhn)")
    p.add_argument("name", choices=data.manage.DATASETS)
    p.add_argument("--cache-dir", help="cache folder (default: $STNLAB_CACHE or ~/.cache/stnlab/cache)")
    p.set_defaults(func=_prepare)
