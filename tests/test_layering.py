"""The package's layering: every stnlab import at module top, pointing down the layer picture only.

    cli -> experiments -> train / analysis -> models -> data -> nn -> geometry

(``models`` reads the data set specs of ``data``; ``train`` and ``analysis`` are peers and never import each
other.) ``errors``, ``io``, ``modes`` and ``options`` are utilities below everything; the package root and ``__main__``
are the facade. The README's picture is this ``LAYERS`` table (checked below).
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "stnlab"
README = Path(__file__).resolve().parents[1] / "README.md"
LAYERS = {"geometry": 0, "nn": 1, "data": 2, "models": 3, "train": 4, "analysis": 4, "experiments": 5, "cli": 6}
UTILITIES = {"errors", "io", "modes", "options", "__version__"}
PICTURE = "cli -> experiments -> train / analysis -> models -> data -> nn -> geometry"


def layer_of(module: str) -> str | None:
    """The layer (sub-package) of ``stnlab.x.y``; None for the package root."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def violations(source: str, own: str) -> list[str]:
    """Hidden (non-top-level) stnlab imports and imports of a layer not below ``own``."""
    tree = ast.parse(source)
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""] if node.module != "stnlab" else [f"stnlab.{a.name}" for a in node.names]
        else:
            continue
        for name in (n for n in names if n.split(".")[0] == "stnlab"):
            if id(node) not in top:
                found.append(f"{name} imported inside a block")
            target = layer_of(name)
            if own in UTILITIES:
                ok = target in UTILITIES
            else:
                ok = target in UTILITIES or target == own or (target in LAYERS and LAYERS[target] < LAYERS[own])
            if not ok:
                found.append(f"{own} imports {name} (not below it)")
    return found


def _modules() -> list[tuple[Path, str]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).parts
        own = rel[0].removesuffix(".py")
        if own not in ("__init__", "__main__"):
            out.append((path, own))
    return out


def test_the_checker_catches_upward_peer_and_hidden_imports():
    assert violations("from stnlab.experiments import tables\n", "train") == [
        "train imports stnlab.experiments (not below it)"]
    assert violations("from stnlab.analysis import compensation\n", "train") == [
        "train imports stnlab.analysis (not below it)"]  # peers
    assert violations("def f():\n    from stnlab.models import create_model\n", "train") == [
        "stnlab.models imported inside a block"]
    assert violations("from stnlab import io\nfrom stnlab.geometry import warp\n", "data") == []
    assert violations("from stnlab.nn import Backbone\n", "io") == ["io imports stnlab.nn (not below it)"]


@pytest.mark.parametrize("path,own", _modules(), ids=lambda v: str(v.relative_to(SRC)) if isinstance(v, Path) else v)
def test_module_imports_only_downwards_at_the_top(path, own):
    assert violations(path.read_text(), own) == []


def test_readme_shows_the_layer_picture():
    assert PICTURE in README.read_text()
    ranks = [LAYERS[name] for name in PICTURE.replace("/", "->").replace(" ", "").split("->")]
    assert ranks == sorted(ranks, reverse=True)


def _module_of(name: str) -> str | None:
    """``stnlab.a.b`` -> the module file it names (``a/b.py``), None for a package or a non-module name."""
    path = SRC.joinpath(*name.split(".")[1:])
    return name if path.with_suffix(".py").is_file() else None


def module_graph() -> dict[str, set[str]]:
    """Module -> the stnlab modules (not packages) it imports at the top, ``from pkg import mod`` included."""
    graph = {}
    for path, _ in _modules():
        me = "stnlab." + ".".join(path.relative_to(SRC).with_suffix("").parts)
        deps = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("stnlab"):
                deps.update(filter(None, [_module_of(node.module)] + [_module_of(f"{node.module}.{a.name}")
                                                                         for a in node.names]))
            elif isinstance(node, ast.Import):
                deps.update(filter(None, (_module_of(a.name) for a in node.names if a.name.startswith("stnlab."))))
        graph[me] = deps - {me}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among the modules of ``graph`` (depth-first), or None."""
    done: set[str] = set()

    def visit(node: str, stack: list[str]) -> list[str] | None:
        if node in stack:
            return stack[stack.index(node):] + [node]
        if node in done:
            return None
        for nxt in sorted(graph.get(node, ())):
            if (cycle := visit(nxt, stack + [node])) is not None:
                return cycle
        done.add(node)
        return None

    return next((c for n in sorted(graph) if (c := visit(n, [])) is not None), None)


def test_no_import_cycle_between_modules():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]  # the checker finds one
    graph = module_graph()
    assert "stnlab.train.evaluation" in graph["stnlab.train.step"]
    assert find_cycle(graph) is None  # e.g. the old train/loop <-> train/evaluation cycle stays broken
