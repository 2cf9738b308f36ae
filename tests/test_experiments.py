"""Paper-table configs and the reproduce runner (training itself is stubbed out by recording fakes)."""

import json

import pytest

import stnlab.train
from stnlab.cli import main
from stnlab.errors import StnlabError
from stnlab.experiments import collect, format_markdown, get_table, run_dir, run_table, select_cells, tables
from stnlab.models import create_model
from stnlab.train import build_config


def test_every_cell_is_a_valid_run():
    for table in tables().values():
        assert table.cells and len({c.key for c in table.cells}) == len(table.cells)
        for cell in table.cells:
            cfg = build_config({"model": cell.model, "dataset": cell.dataset}, table.overrides, cell.overrides)
            assert cfg.model == cell.model
            create_model(cell.model, cell.dataset)  # raises on a bad name
            assert cell.row in table.rows and cell.column in table.columns


def test_docstrings_hold_the_paper_numbers_and_command():
    for name, table in tables().items():
        assert f"stnlab reproduce {name}" in table.doc
        for cell in table.cells:
            assert f"{cell.paper:.2f}" in table.doc, (name, cell.key)


def test_markdown_puts_ours_beside_the_paper():
    table = get_table("mnist-rst")
    key = table.cell("STN-C1", "R").key
    text = format_markdown(table, {key: {"error": 0.0123, "error_std": 0.0004, "passes": 10}})
    assert "| STN-C1 | 1.23 ± 0.04 / 1.32 | — / 0.96 | — / 1.16 |" in text
    it = format_markdown(get_table("svhn-iterative"))
    assert "| STN-C0-large | — / 3.69 | 3.7 |" in it and "| STN-SL0123 | — / 3.49 | — |" in it


def test_runner_trains_missing_cells_and_skips_finished(tmp_path, monkeypatch):
    calls = []

    def fake_train(cfg, folder, *, resume=False, force=False, **kw):
        calls.append(("train", folder.name, resume, None if cfg is None else cfg.steps, force))
        folder.mkdir(parents=True, exist_ok=True)

    def fake_eval(folder, *, split, passes, **kw):
        calls.append(("eval", folder.name))
        out = {"split": split, "error": 0.5, "error_std": 0.0, "passes": passes}
        (folder / "eval.json").write_text(json.dumps(out))
        return out

    monkeypatch.setattr(stnlab.train, "train", fake_train)
    monkeypatch.setattr(stnlab.train, "evaluate_run", fake_eval)
    table = get_table("mnist-rst")
    done = run_dir(table, table.cell("CNN", "R"), tmp_path)
    done.mkdir(parents=True)
    (done / "eval.json").write_text(json.dumps({"split": "test", "error": 0.02, "error_std": 0.001, "passes": 10}))
    half = run_dir(table, table.cell("STN-C0", "R"), tmp_path)
    half.mkdir(parents=True)
    (half / "last.pt").write_bytes(b"")
    dead = run_dir(table, table.cell("STN-DL1", "R"), tmp_path)
    dead.mkdir(parents=True)
    (dead / "config.json").write_text("{}")

    results = run_table(table, tmp_path, cells=["R"], sets={"steps": 7}, passes=1, progress=False)
    assert len(results) == 5 and all(r is not None for r in results.values())
    trained = [c for c in calls if c[0] == "train"]
    assert ("train", "STN-C0", True, None, False) in trained  # interrupted run: resumed, not restarted
    assert ("train", "STN-DL1", False, 7, True) in trained  # died before its first checkpoint: restarted
    assert ("train", "STN-SL1", False, 7, False) in trained
    assert not any(c[1] == "CNN" for c in calls)  # finished: untouched
    assert collect(table, tmp_path)[table.cell("CNN", "R").key]["error"] == 0.02


def test_bad_table_and_cell(capsys, tmp_path):
    with pytest.raises(StnlabError, match="valid: mnist-rst"):
        get_table("mnist")
    with pytest.raises(StnlabError, match="matches no cell"):
        select_cells(get_table("svhn-depth"), ["STN-C5"])
    assert main(["reproduce", "mnist-rst", "--cell", "nothing", "--runs", str(tmp_path)]) == 2
    assert "matches no cell" in capsys.readouterr().err
    assert main(["reproduce", "svhn-depth", "--collect-only", "--runs", str(tmp_path)]) == 0
    assert "| 8 | — / 4.00 | — / 3.76 | — / 3.26 |" in capsys.readouterr().out


def test_bad_values_and_corrupt_results(capsys, tmp_path):
    assert main(["reproduce", "mnist-rst", "--collect-only", "--set", "epochs=abc", "--runs", str(tmp_path)]) == 2
    assert "epochs" in capsys.readouterr().err
    assert main(["reproduce", "mnist-rst", "--collect-only", "--passes", "0", "--runs", str(tmp_path)]) == 2
    assert "--passes" in capsys.readouterr().err
    table = get_table("mnist-rst")
    folder = run_dir(table, table.cells[0], tmp_path)
    folder.mkdir(parents=True)
    (folder / "eval.json").write_text("[1, 2]")
    assert main(["reproduce", "mnist-rst", "--collect-only", "--runs", str(tmp_path)]) == 2
    assert "is not an eval result" in capsys.readouterr().err
