"""The CLI as a new user meets it: `stnlab models`, --data-root everywhere, impossible --out paths."""

from __future__ import annotations

import pytest

from stnlab.cli import build_parser, main
from stnlab.cli.models_cmd import describe
from stnlab.models import list_datasets, list_models


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_models_lists_every_name_of_a_dataset_with_what_it_is(capsys):
    code, out, _ = run(capsys, "models", "--dataset", "mnist-rot")
    assert code == 0 and out.startswith("mnist-rot:\n")
    lines = {line.split()[0]: line for line in out.splitlines()[1:] if line.startswith("  ")}
    assert list(lines) == list_models("mnist-rot")
    assert "warps the depth-1 feature maps" in lines["STN-C1"] and "warps the input" in lines["STN-SL1"]
    assert "fresh copy" in lines["STN-DL2"] and "shared" in lines["STN-SL2"] and "no spatial" in lines["CNN"]
    code, out, _ = run(capsys, "models")
    assert code == 0 and all(f"{d}:\n" in out for d in list_datasets())
    assert "iterative, 4 steps" in describe("STN-SL0123") and "depth-10" in describe("STN-C10")


def test_models_unknown_dataset_is_one_line_exit_2(capsys):
    code, _, err = run(capsys, "models", "--dataset", "cifar")
    assert code == 2 and err.count("\n") == 1 and "valid: mnist" in err


def test_train_help_points_to_an_existing_models_command(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "stnlab models" in " ".join(capsys.readouterr().out.split())
    assert build_parser().parse_args(["models"]).func is not None


@pytest.mark.parametrize("argv", [["data", "status"], ["data", "show", "mnist"], ["reproduce", "mnist-rst"],
                                  ["analyze", "alignment"], ["train"]])  # fmt: skip
def test_data_root_is_spelled_the_same_everywhere(argv, capsys):
    args = build_parser().parse_args([*argv, "--data-root", "/somewhere"])
    assert (getattr(args, "root", None) or args.data_root) == "/somewhere"
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    assert "--data-root" in capsys.readouterr().out


def test_data_keeps_root_as_a_hidden_alias(tmp_path, capsys):
    code, out, _ = run(capsys, "data", "status", "--root", str(tmp_path))
    assert code == 0 and f"data root: {tmp_path}" in out
    with pytest.raises(SystemExit):
        main(["data", "status", "--help"])
    assert "--root" not in capsys.readouterr().out


def test_reproduce_passes_the_data_root_on(monkeypatch, capsys):
    import stnlab.cli.reproduce_cmd as cmd

    seen = {}
    monkeypatch.setattr(cmd, "run_table", lambda *a, **k: seen.update(k))
    monkeypatch.setattr(cmd, "write_table_results", lambda table, results: {"cells": {}})
    monkeypatch.setattr(cmd, "format_results_markdown", lambda table, cells: "table")
    code, out, _ = run(capsys, "reproduce", "mnist-rst", "--data-root", "/d", "--cache-dir", "/c", "--collect-only")
    assert code == 0 and seen["root"] == "/d" and seen["cache_dir"] == "/c"


@pytest.mark.parametrize("argv", [["analyze", "alignment", "--out", "/proc/x/y"],
                                  ["analyze", "filters", "--out", "FILE/y"],
                                  ["analyze", "compensation", "no-run", "--out", "/proc/x/y"],
                                  ["data", "show", "mnist", "--out", "/proc/x/y.png"]])  # fmt: skip
def test_out_under_an_impossible_parent_is_one_line_exit_2(argv, tmp_path, capsys):
    (tmp_path / "FILE").write_text("in the way")
    argv = [a.replace("FILE", str(tmp_path / "FILE")) for a in argv]
    code, _, err = run(capsys, *argv, "--data-root", str(tmp_path / "no-data"))
    assert code == 2 and err.startswith("stnlab: error: --out") and err.count("\n") == 1
    assert "Traceback" not in err and sorted(p.name for p in tmp_path.iterdir()) == ["FILE"]
