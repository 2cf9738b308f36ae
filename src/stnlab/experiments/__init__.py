"""The papers' experiments: one config per paper table, a runner, and markdown tables (ours beside the paper's).

``stnlab reproduce TABLE`` trains and evaluates each cell; ``stnlab tables --markdown`` prints the tables
(used to generate the README's).
"""

from stnlab.experiments.reproduce import collect, format_markdown, run_dir, run_table, select_cells
from stnlab.experiments.tables import Cell, PaperTable, get_table, register_table, tables

__all__ = ["Cell", "PaperTable", "collect", "format_markdown", "get_table", "register_table", "run_dir",
           "run_table", "select_cells", "tables"]
