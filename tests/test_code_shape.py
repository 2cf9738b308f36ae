"""The shape the code keeps (docs/architecture.md): modules under 300 lines, no function outside the CLI with more
than 8 parameters (long calls take a small options dataclass), and those dataclasses accept their fields as
keywords with Python's own error for a wrong one."""

import ast
from pathlib import Path

import pytest

from stnlab.options import options_of
from stnlab.train import TrainOptions

SRC = Path(__file__).resolve().parents[1] / "src" / "stnlab"


def _modules():
    return sorted(SRC.rglob("*.py"))


def test_every_module_is_under_300_lines():
    long = {p.relative_to(SRC).as_posix(): n for p in _modules() if (n := p.read_text().count("\n")) > 300}
    assert not long, f"split these modules: {long}"


def test_no_function_outside_the_cli_takes_more_than_8_parameters():
    many = []
    for path in _modules():
        if path.parent.name == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
                count = len([n for n in names if n not in ("self", "cls")])
                if count > 8:
                    many.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({count})")
    assert not many, f"group these parameters in an options dataclass (stnlab/options.py): {many}"


def test_options_take_fields_as_keywords_and_name_the_valid_ones():
    base = TrainOptions(resume=True)
    assert options_of(TrainOptions, base, {"progress": False}, "train") == TrainOptions(resume=True, progress=False)
    assert options_of(TrainOptions, None, {}, "train") == TrainOptions()
    with pytest.raises(TypeError, match=r"train\(\) got unexpected keyword argument\(s\) .resum.; valid: force, res"):
        options_of(TrainOptions, None, {"resum": True}, "train")
