"""The training package's imports: at module top, pointing down only, and no cycle between its modules."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "stnlab"
# what stnlab.train may use (cli -> experiments -> train / analysis -> models / data -> nn -> geometry)
TRAIN_MAY_IMPORT = ("stnlab.errors", "stnlab.io", "stnlab.modes", "stnlab.train", "stnlab.models", "stnlab.data",
                    "stnlab.nn", "stnlab.geometry")


def stnlab_imports(source: str) -> list[tuple[str, bool]]:
    """``(module, at module top)`` for every stnlab import in ``source``."""
    tree = ast.parse(source)
    top = {id(node) for node in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):  # "from stnlab import io" imports stnlab.io
            names = [f"stnlab.{a.name}" for a in node.names] if node.module == "stnlab" else [node.module or ""]
        else:
            names = []
        out += [(n, id(node) in top) for n in names if n.split(".")[0] == "stnlab"]
    return out


def problems(source: str, allowed: tuple[str, ...]) -> list[str]:
    """Imports hidden in a function (or any block) and imports of packages outside ``allowed``."""
    found = []
    for name, at_top in stnlab_imports(source):
        if not at_top:
            found.append(f"{name} imported inside a block")
        if not any(name == a or name.startswith(a + ".") for a in allowed):
            found.append(f"{name} is not below this package")
    return found


def test_the_checker_catches_an_upward_and_a_hidden_import():
    upward = "from stnlab.analysis import compensation\n"
    hidden = "def f():\n    from stnlab.models import create_model\n"
    assert problems(upward, TRAIN_MAY_IMPORT) == ["stnlab.analysis is not below this package"]
    assert problems(hidden, TRAIN_MAY_IMPORT) == ["stnlab.models imported inside a block"]


@pytest.mark.parametrize("path", sorted((SRC / "train").glob("*.py")), ids=lambda p: p.name)
def test_train_modules_import_at_the_top_and_only_downwards(path):
    assert problems(path.read_text(), TRAIN_MAY_IMPORT) == []


def test_train_cmd_imports_at_the_top():
    assert problems((SRC / "cli" / "train_cmd.py").read_text(), ("stnlab",)) == []


def test_no_import_cycle_inside_the_training_package():
    graph = {}
    for path in (SRC / "train").glob("*.py"):
        mods = set()
        for name, _ in stnlab_imports(path.read_text()):
            if name.startswith("stnlab.train."):
                mods.add(name.split(".")[2])
        tree = ast.parse(path.read_text())
        for node in tree.body:  # "from stnlab.train import checkpoint as ckpt"
            if isinstance(node, ast.ImportFrom) and node.module == "stnlab.train":
                mods.update(a.name for a in node.names if (SRC / "train" / f"{a.name}.py").exists())
        graph[path.stem] = mods - {path.stem}
    graph.pop("__init__")
    done: set[str] = set()

    def visit(node: str, stack: tuple[str, ...]) -> None:
        assert node not in stack, f"import cycle: {' -> '.join((*stack, node))}"
        if node not in done:
            for nxt in graph.get(node, ()):
                visit(nxt, (*stack, node))
            done.add(node)

    for node in graph:
        visit(node, ())
    assert "evaluation" in graph["step"] and "loop" not in graph["evaluation"]  # the old cycle stays broken
