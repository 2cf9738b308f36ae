"""Keyword options grouped in small frozen dataclasses: a function takes ``options`` (one such object) and/or
the same fields as keywords, so a long argument list stays one readable record and old keyword calls work."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def options_of(cls: type[T], base: T | None, overrides: Mapping[str, Any], where: str) -> T:
    """``base`` (default: ``cls()``) with the fields ``overrides`` names replaced; a TypeError naming ``where``
    and the valid keywords for an unknown one (as Python's own for a function's keywords)."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise TypeError(f"{where}() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; valid: "
                        f"{', '.join(names)}")
    base = cls() if base is None else base
    return dataclasses.replace(base, **overrides) if overrides else base  # type: ignore[type-var]


__all__ = ["options_of"]
