"""Paper tables as data: which (model, data set) cells to train, and the numbers the papers report.

Each table lives in its own module under :mod:`stnlab.experiments.configs` (big_vision style). The paper's
numbers are typed once, in the cells; the module docstring (the command, the recipe, the budgets) gets
them rendered from the cells (:attr:`PaperTable.docstring`), as do the README table (``stnlab tables``) and
the claims ledger. Runtimes are not written here: they are in the results (``wall_seconds``) and the
generated tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from stnlab.errors import StnlabError


@dataclass(frozen=True)
class Cell:
    """One entry of a paper table: a model trained on a data set, and the paper's test error (%)."""

    row: str
    column: str
    model: str
    dataset: str
    paper: float | None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    reference: float | None = None  # a second published number (e.g. Jaderberg et al.'s)

    @property
    def key(self) -> str:
        """A stable folder name for this cell's run: ``<dataset>/<model>[+k=v...]``."""
        extra = "".join(f"+{k}={v}" for k, v in sorted(self.overrides.items()))
        return f"{self.dataset}/{self.model}{extra}"


@dataclass(frozen=True)
class Budget:
    """A training budget of a table: config overrides on top of the recipe, seeds, and test passes.

    ``paper`` is the papers' full protocol, ``long`` (where a table has one) the largest that a table's
    networks fit in within about a day of a 2-core CPU, ``cpu`` the largest budget that is sensible on a
    2-core CPU in a few hours (stated in epochs), ``smoke`` a few seconds per cell (the test suite).
    ``eval_samples`` > 0 evaluates only that many test samples; ``passes`` None means the data set's default
    (the papers' 10 for MNIST).
    """

    overrides: Mapping[str, Any] = field(default_factory=dict)
    seeds: int = 3
    passes: int | None = None
    eval_samples: int = 0
    note: str = ""


SMOKE = Budget({"steps": 2, "batch_size": 16, "val_samples": 32, "eval_batch_size": 32, "ckpt_every": 0},
               seeds=1, passes=1, eval_samples=32, note="a few seconds per cell, for the test suite")
BUDGET_ORDER = {"paper": 0, "long": 1, "medium": 2, "cpu": 3, "smoke": 4}


def budget_rank(budget: str) -> int:
    """Where ``budget`` ranks, 0 = best (:data:`BUDGET_ORDER`). A recipe variant (``medium+augment_rotation=0``,
    what ``stnlab reproduce --set`` writes) and an unknown name rank below every named budget: a probe of
    another recipe never stands in for, or replaces, a cell of the paper's table."""
    return BUDGET_ORDER.get(budget, len(BUDGET_ORDER))


def _default_budgets() -> Mapping[str, Budget]:
    return MappingProxyType({"paper": Budget(note="the config defaults"), "cpu": Budget(note="as paper"),
                             "smoke": SMOKE})


@dataclass(frozen=True)
class PaperTable:
    """A table of a paper: its cells, where the numbers come from, and table-wide training overrides."""

    name: str
    title: str
    source: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: tuple[Cell, ...]
    overrides: Mapping[str, Any] = field(default_factory=dict)
    reference_name: str | None = None
    row_label: str = "network"
    doc: str = ""
    budgets: Mapping[str, Budget] = field(default_factory=_default_budgets)
    # the canonical-pose reports of `stnlab canonical` in the results folder, by column (the README shows them
    # under the table, the claims ledger weighs them)
    reports: Mapping[str, str] = field(default_factory=dict)
    # show the course of training (validation error, the STs' rotation spread by epoch) under the table
    course: bool = False

    def budget(self, name: str) -> Budget:
        """The budget called ``name``; StnlabError listing the valid ones otherwise."""
        if name not in self.budgets:
            raise StnlabError(f"unknown budget {name!r} for {self.name!r}; valid: {', '.join(self.budgets)}")
        return self.budgets[name]

    def cell(self, row: str, column: str) -> Cell | None:
        """The cell at (row, column), or None where the paper has none."""
        return next((c for c in self.cells if c.row == row and c.column == column), None)

    def paper(self, row: str, column: str) -> float:
        """The paper's number of the cell at (row, column); StnlabError where the paper gives none."""
        cell = self.cell(row, column)
        if cell is None or cell.paper is None:
            raise StnlabError(f"{self.name}: the paper gives no number for {row} / {column}")
        return cell.paper

    @property
    def docstring(self) -> str:
        """``doc`` followed by the paper's numbers, rendered from the cells (:func:`paper_numbers_rst`)."""
        return f"{self.doc.rstrip()}\n\n{paper_numbers_rst(self)}\n"


def paper_numbers_rst(table: PaperTable) -> str:
    """The paper's numbers of ``table`` as an RST table: a row per table row, a column per table column (and one
    for the second published number where the table has a ``reference_name``); ``-`` where there is none."""
    refs = table.reference_name is not None
    header = [table.row_label, *(("paper", table.reference_name) if refs else table.columns)]
    body = []
    for row in table.rows:
        cells = [table.cell(row, c) for c in table.columns]
        values = [cells[0].paper, cells[0].reference] if refs else [c.paper if c else None for c in cells]
        body.append([row, *("-" if v is None else f"{v:.2f}" for v in values)])
    widths = [max(len(str(line[i])) for line in (header, *body)) + 2 for i in range(len(header))]
    rule = "  ".join("=" * w for w in widths)
    fmt = [rule, "  ".join(f"{h:<{w}}" for h, w in zip(header, widths)).rstrip(), rule]
    fmt += ["  ".join(f"{v:<{w}}" for v, w in zip(line, widths)).rstrip() for line in body]
    return "\n".join([*fmt, rule])


_TABLES: dict[str, PaperTable] = {}


def register_table(table: PaperTable) -> PaperTable:
    """Add ``table`` to the registry (by name) and return it."""
    _TABLES[table.name] = table
    return table


def tables() -> Mapping[str, PaperTable]:
    """Every registered paper table, by name (``stnlab.experiments`` imports the configs, which register)."""
    return MappingProxyType(_TABLES)


def get_table(name: str) -> PaperTable:
    """The table called ``name``; StnlabError listing the valid names otherwise."""
    known = tables()
    if name not in known:
        raise StnlabError(f"unknown table {name!r}; valid: {', '.join(sorted(known))} (see `stnlab tables`)")
    return known[name]
