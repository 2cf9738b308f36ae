"""``stnlab models [--dataset D]``: the model names valid for each data set, one line each on what it is."""

from __future__ import annotations

import argparse
import re
from typing import Any

from stnlab.errors import StnlabError
from stnlab.models import list_datasets, list_models
from stnlab.models.equivariant import describe as describe_equivariant

_NAME = re.compile(r"^STN-(C|DL|SL)(\d+)(-large)?$")
_ITERATIVE = {
    "C": "independent STs at depths {d}, each warping that depth's maps (Jaderberg et al.'s SVHN model)",
    "DL": "iterative, {n} steps, loc-net trunks of depth {d} (fresh copies); warps the input once at the end",
    "SL": "iterative, {n} steps, loc-net trunks of depth {d} (the classifier's own); warps the input once at the end",
}


def describe(name: str) -> str:
    """One line on what the model ``name`` is (see ``stnlab.models.registry`` for the naming scheme)."""
    if name == "CNN":
        return "the backbone alone, no spatial transformer"
    if (equivariant := describe_equivariant(name)) is not None:
        return equivariant
    m = _NAME.match(name)
    if m is None:
        return "a registered model"
    kind, digits, large = m.group(1), m.group(2), bool(m.group(3))
    if large:
        return "one ST that warps the input, with Jaderberg's large 4-layer conv loc-net"
    if len(digits) > 1 and digits.startswith("0"):  # STN-X0123: several depths
        return _ITERATIVE[kind].format(d=", ".join(digits), n=len(digits))
    x = int(digits)
    if kind == "C":
        if x == 0:
            return "one ST that warps the input; its loc-net reads the image"
        return f"one ST before stage {x} that warps the depth-{x} feature maps; its loc-net reads those maps"
    if kind == "DL":
        return f"one ST that warps the input; loc-net trunk: a fresh copy of the classifier's first {x} stage(s)"
    return f"one ST that warps the input; loc-net trunk: the classifier's own first {x} stage(s), shared"


def run_models(args: argparse.Namespace) -> int:
    """Print the model names of one data set (``--dataset``) or of all."""
    datasets = list_datasets()
    if args.dataset is not None and args.dataset not in datasets:
        raise StnlabError(f"unknown dataset {args.dataset!r}; valid: {', '.join(datasets)}")
    for dataset in [args.dataset] if args.dataset else datasets:
        print(f"{dataset}:")
        for name in list_models(dataset):
            print(f"  {name:<14} {describe(name)}")
    print("use: stnlab train --model NAME --dataset DATASET, or stnlab.create_model(NAME, DATASET)")
    return 0


def register(subparsers: Any) -> None:
    """Add ``stnlab models``."""
    p = subparsers.add_parser(
        "models",
        help="list the model names of each data set, with what each one is",
        description="List the model names valid for each data set (or one, with --dataset), one line each.",
    )
    p.add_argument("--dataset", default=None, help="only this data set (default: all)")
    p.set_defaults(func=run_models)
