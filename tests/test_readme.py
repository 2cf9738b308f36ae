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


def test_quick_start_commands_parse_and_name_the_run_folder_training_writes():
    """Each Quick start line is a command as written: it sets STNLAB_DATA, every `stnlab` line parses, and the
    folder that eval and the figure read is the default run folder of the train line."""
    from stnlab.cli import build_parser
    from stnlab.cli.train_cmd import _default_out
    from stnlab.train import build_config

    block = re.search(r"## Quick start\n.*?```bash\n(.*?)```", README, re.S).group(1)
    lines = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert lines[0] == ". .venv/bin/activate" and lines[1].startswith("export STNLAB_DATA=")
    parser = build_parser()
    commands = [parser.parse_args(line.split()[1:]) for line in lines if line.startswith("stnlab ")]
    train = next(a for a in commands if a.command == "train")
    folder = _default_out(build_config({"model": train.model, "dataset": train.dataset, "epochs": train.epochs}))
    assert [a.run_dir for a in commands if a.command == "eval"] == [str(folder)]
    assert lines[-1].split()[1] == f"{folder}/st_grid_epoch{train.epochs:03d}.png"  # written at the last step
    assert f"run folder {folder}" in README
