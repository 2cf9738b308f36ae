"""The README's code example runs and its links point at files that exist."""

import re
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_ten_line_example_runs(capsys):
    code = re.search(r"## Library in ten lines\n\n```python\n(.*?)```", README, re.S).group(1)
    assert len(code.strip().splitlines()) <= 10
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["logits"].shape == (8, 10)
    assert torch.equal(namespace["mats"][0], torch.eye(3).expand(8, 3, 3))  # identity at initialisation
    assert "tensor([0., 0." in capsys.readouterr().out


def test_relative_links_exist():
    links = re.findall(r"\]\(((?:docs|src|benchmarks)/[^)#]+)\)", README)
    assert links
    for link in links:
        assert (ROOT / link).exists(), link
