"""SVHN: iterative / multi-depth STNs against Jaderberg et al. (ICPR 2020, Table "Iterative alignment - SVHN").

Command::

    stnlab reproduce svhn-iterative --runs runs

Not run here: SVHN cannot be downloaded on the development machines (no network).

The paper's text also gives iterative STN-SL3 (3.33 %) and STN-SL6 (3.18 %) without the number of
iterations; they are not in this table because that setting is not stated.

Paper (sequence error %; Jaderberg et al.'s beside it; rendered from the cells):
"""

from stnlab.experiments.tables import Cell, PaperTable, register_table

_PAPER = {"CNN": (3.88, 4.0), "STN-C0-large": (3.69, 3.7), "STN-C0123": (3.61, 3.6), "STN-SL0123": (3.49, None)}

TABLE = register_table(PaperTable(
    name="svhn-iterative",
    title="SVHN: sequence error (%) of iterative and multi-depth STNs",
    source="Finnveden, Jansson & Lindeberg, ICPR 2020; Jaderberg et al., NIPS 2015",
    rows=tuple(_PAPER),
    columns=("error",),
    cells=tuple(Cell(m, "error", m, "svhn", ours, reference=ref) for m, (ours, ref) in _PAPER.items()),
    reference_name="Jaderberg et al.",
    doc=__doc__,
))
__doc__ = TABLE.docstring  # with the paper's numbers, rendered from the cells
