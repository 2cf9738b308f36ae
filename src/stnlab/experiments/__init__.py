"""The papers' experiments: one config per paper table, a runner, committed results and a claims ledger.

``stnlab reproduce TABLE`` trains and evaluates each cell (per seed, at a named budget) and copies the
small run files into ``results/``; ``stnlab tables --markdown`` prints the tables from ``results/`` (and
``--write-readme`` regenerates the README's results section from them).
"""

from stnlab.experiments import configs  # noqa: F401  (registers the paper tables)
from stnlab.experiments.reproduce import budget_key, read_result, run_dir, run_table, select_cells
from stnlab.experiments.results import aggregate, format_results_markdown, update_readme, write_table_results
from stnlab.experiments.tables import Budget, Cell, PaperTable, get_table, register_table, tables

__all__ = ["Budget", "Cell", "PaperTable", "aggregate", "budget_key", "format_results_markdown", "get_table",
           "read_result", "register_table", "run_dir", "run_table", "select_cells", "tables", "update_readme",
           "write_table_results"]
