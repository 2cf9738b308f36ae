"""SVHN: where the loc-net reads and what it transforms, by depth (ICPR 2020, Table "Deeper features - SVHN").

Command::

    stnlab reproduce svhn-depth --runs runs

Not run here: SVHN cannot be downloaded on the development machines (no network); bring
``svhn/{train,test,extra}`` into the data root (``stnlab data import svhn PATH``) to run it.

The claim: deeper features help only when the *input* is transformed, and most with parameter sharing (SL).

Paper (sequence error %, 64x64 crops, up to 5 digits; rendered from the cells):
"""

from stnlab.experiments.tables import Cell, PaperTable, register_table

_PAPER = {
    "0": {"STN-CX": 3.81},
    "3": {"STN-CX": 3.70, "STN-DLX": 3.48, "STN-SLX": 3.54},
    "6": {"STN-CX": 3.91, "STN-DLX": 3.75, "STN-SLX": 3.29},
    "8": {"STN-CX": 4.00, "STN-DLX": 3.76, "STN-SLX": 3.26},
}

TABLE = register_table(PaperTable(
    name="svhn-depth",
    title="SVHN: sequence error (%) by loc-net depth X",
    source="Finnveden, Jansson & Lindeberg, ICPR 2020",
    rows=tuple(_PAPER),
    columns=("STN-CX", "STN-DLX", "STN-SLX"),
    cells=tuple(Cell(x, col, col.replace("X", x), "svhn", err)
                for x, row in _PAPER.items() for col, err in row.items()),
    row_label="X",
    doc=__doc__,
))
__doc__ = TABLE.docstring  # with the paper's numbers, rendered from the cells
