"""The ``stnlab`` command line.

Sub-commands live in modules named ``*_cmd.py`` in this package; each defines
``register(subparsers) -> None`` that adds its parser(s) and sets ``func`` (a callable taking the parsed
``argparse.Namespace`` and returning an exit code). They are discovered here, so adding a command
touches only its own module.

A :class:`~stnlab.errors.StnlabError` (a user mistake) is printed as one line ``stnlab: error: ...`` and
the command exits with status 2; argparse usage errors also exit with 2. An empty path argument or a name
longer than the file system allows is refused before any work. A training stopped by Ctrl-C / SIGTERM
(:class:`~stnlab.errors.Interrupted`) prints what it saved and how to resume, and exits with 130 / 143.
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
from stnlab.errors import Interrupted, StnlabError
from stnlab.io import check_name_lengths


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


# arguments that name a file or folder (options as --NAME, positionals as their metavar)
PATH_ARGS = {"out": "--out", "config": "--config", "runs": "--runs", "results": "--results",
             "data_root": "--data-root", "cache_dir": "--cache-dir", "root": "--data-root",
             "weights_dir": "--weights-dir", "run_dir": "RUN_DIR", "path": "PATH"}


def check_path_args(args: argparse.Namespace) -> None:
    """Refuse an empty path (``--out ""`` would silently mean the default or the current folder) and a
    name longer than the file system allows, before any work: one line naming the argument."""
    for key, flag in PATH_ARGS.items():
        value = getattr(args, key, None)
        if not isinstance(value, str):
            continue
        if not value.strip():
            default = " (or leave it out for the default)" if flag.startswith("--") else ""
            raise StnlabError(f"{flag} is empty; give a path{default}")
        check_name_lengths(value, flag)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stnlab`` console script; returns the exit status."""
    warnings.showwarning = _show_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        check_path_args(args)
        return int(args.func(args) or 0)
    except StnlabError as err:
        text = str(err).encode("utf-8", "backslashreplace").decode("utf-8")  # a name that is not UTF-8
        print(f"stnlab: error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:  # an Interrupted run says what it saved and how to resume
        print(f"stnlab: {err}" if isinstance(err, Interrupted) else "stnlab: interrupted", file=sys.stderr)
        return getattr(err, "exit_code", 130)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
