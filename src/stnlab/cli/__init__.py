"""The ``stnlab`` command line.

Sub-commands live in modules named ``*_cmd.py`` in this package; each defines
``register(subparsers) -> None`` that adds its parser(s) and sets ``func`` (a callable taking the parsed
``argparse.Namespace`` and returning an exit code). They are discovered here, so adding a command
touches only its own module.

A :class:`~stnlab.errors.StnlabError` (a user mistake) is printed as one line ``stnlab: error: ...`` and
the command exits with status 2; argparse usage errors also exit with 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from stnlab import __version__
from stnlab.errors import StnlabError


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every discovered sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="stnlab",
        description="Spatial transformer networks: train, evaluate, and measure invariance.",
    )
    parser.add_argument("--version", action="version", version=f"stnlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.endswith("_cmd"):
            importlib.import_module(f"{__name__}.{info.name}").register(sub)
    return parser


_PACKAGE = Path(__file__).resolve().parents[1]
_default_showwarning = warnings.showwarning


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """stnlab's own notes (skipped files, resized images) as one line ``stnlab: note: ...``."""
    if Path(filename).resolve().is_relative_to(_PACKAGE) and issubclass(category, UserWarning):
        print(f"stnlab: note: {message}", file=file or sys.stderr)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stnlab`` console script; returns the exit status."""
    warnings.showwarning = _show_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except StnlabError as err:
        print(f"stnlab: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stnlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
