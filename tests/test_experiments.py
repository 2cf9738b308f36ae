"""Paper-table configs and the reproduce runner (training itself is stubbed out by recording fakes)."""

import json
import sys
from pathlib import Path

import pytest

import stnlab.experiments.reproduce as reproduce_mod
from stnlab.cli import main
from stnlab.errors import StnlabError
from stnlab.experiments import budget_key, format_results_markdown, get_table, run_dir, run_table, select_cells, tables
from stnlab.experiments.canonical import COLUMNS
from stnlab.experiments.claims import CLAIMS, format_claims
from stnlab.experiments.report import kept_rows
from stnlab.experiments.results import readme_block
from stnlab.experiments.tables import budget_rank
from stnlab.models import create_model
from stnlab.train import build_config
from stnlab.train.distributed import cpu_count


def test_every_cell_is_a_valid_run():
    for table in tables().values():
        assert table.cells and len({c.key for c in table.cells}) == len(table.cells)
        for cell in table.cells:
            cfg = build_config({"model": cell.model, "dataset": cell.dataset}, table.overrides, cell.overrides)
            assert cfg.model == cell.model
            create_model(cell.model, cell.dataset)  # raises on a bad name
            assert cell.row in table.rows and cell.column in table.columns
        assert set(table.reports) <= set(table.columns), table.name  # a report belongs to one of its columns
    # `stnlab canonical` measures exactly the columns whose report file the table names
    assert set(get_table("mnist-rst").reports) == set(COLUMNS)


def test_the_paper_numbers_are_typed_once_and_rendered_into_docstrings_and_claims():
    statements = " ".join(c.statement for c in CLAIMS)
    for name, table in tables().items():
        module = sys.modules[f"stnlab.experiments.configs.{name.replace('-', '_')}"]
        assert module.__doc__ == table.docstring and f"stnlab reproduce {name}" in table.doc
        assert "=====" not in table.doc  # the docstring as written holds no numbers table: the cells do
        for cell in table.cells:
            assert cell.paper is None or f"{cell.paper:.2f}" in table.docstring, (name, cell.key)
    for cell in get_table("mnist-rst").cells:  # M-R, M-S, M-T quote every MNIST cell
        assert f"{cell.row} {cell.paper:.2f}" in statements
    assert "(22.3 %)" in statements and "(21.5 %)" in statements and "(SL8 3.26 %)" in statements


def test_generated_tables_carry_the_runs_wall_time():
    table = get_table("plankton")
    entries = [{"row": "STN-C2", "column": "error", "budget": "cpu", "errors": [60.0], "mean": 60.0, "std": None,
                "epochs": 2, "wall_seconds": [1140.0]},
               {"row": "CNN", "column": "error", "budget": "cpu", "errors": [59.0], "mean": 59.0, "std": None,
                "epochs": 2, "wall_seconds": [7200.0, 9000.0]}]
    text = format_results_markdown(table, entries)
    assert "Training wall time per run of the cells above" in text and "CNN 2.2 h, STN-C2 19 min." in text


def test_results_markdown_shows_mean_and_std_over_seeds_and_marks_budgets():
    table = get_table("mnist-rst")
    entries = [{"row": "STN-C1", "column": "R", "budget": "paper", "errors": [1.2, 1.3, 1.25], "mean": 1.25,
                "std": 0.05, "epochs": 50},
               {"row": "CNN", "column": "S", "budget": "cpu", "errors": [2.0], "mean": 2.0, "std": None,
                "epochs": 10}]
    text = format_results_markdown(table, entries)
    assert "| STN-C1 | 1.25 ± 0.05 (n=3) / 1.32 | — / 0.96 | — / 1.16 |" in text
    assert "| CNN | — / 1.71 | 2.00 (n=1)† / 1.38 |" in text
    assert "† not at the paper budget: `cpu` budget (10 epochs)" in text
    assert "mean ± std over seeds" in text
    it = format_results_markdown(get_table("svhn-iterative"), [])
    assert "| STN-SL0123 | — / 3.49 |" in it


def _fake_runs(monkeypatch, calls):
    def fake_train(cfg, folder, *, resume=False, force=False, **kw):
        calls.append(("train", folder.parent.name, folder.name, resume, None if cfg is None else cfg.steps, force))
        folder.mkdir(parents=True, exist_ok=True)
        if cfg is not None:
            (folder / "config.json").write_text(json.dumps(cfg.to_dict()))
        (folder / "metrics.jsonl").write_text(json.dumps({"epoch": 1.0, "wall_time": 3.0}) + "\n")
        (folder / "last.pt").write_bytes(b"checkpoint")

    def fake_eval(folder, *, split, passes, **kw):
        calls.append(("eval", folder.parent.name, folder.name))
        seed = json.loads((folder / "config.json").read_text())["seed"]
        out = {"split": split, "error": 0.01 * (1 + seed), "error_std": 0.001, "passes": passes}
        (folder / "eval.json").write_text(json.dumps(out))
        return out

    monkeypatch.setattr(reproduce_mod, "train", fake_train)
    monkeypatch.setattr(reproduce_mod, "evaluate_run", fake_eval)


def _planned(table, model, seed, **changes):
    """The config the runner plans for ``model`` on R with ``--set steps=7``, as a config.json dict."""
    cfg = build_config({"model": model, "dataset": "mnist-rot"}, table.overrides, table.budget("paper").overrides,
                       {"steps": 7, "seed": seed}, changes)
    return cfg.to_dict()


def test_host_keys_do_not_name_a_budget():
    assert budget_key("cpu", {"ckpt_every": 40, "threads": 1}) == "cpu"  # where and how a run ran, not what
    assert budget_key("paper", {"threads": 2, "steps": 7, "lr": 0.1}) == "paper+lr=0.1+steps=7"


def test_runner_refuses_to_keep_a_run_of_another_recipe(tmp_path, monkeypatch):
    _fake_runs(monkeypatch, [])
    table = get_table("mnist-rst")
    stale = run_dir(table, table.cell("CNN", "R"), tmp_path / "runs", budget_key("paper", {"steps": 7}), 0)
    stale.mkdir(parents=True)
    (stale / "config.json").write_text(json.dumps(_planned(table, "CNN", 0, lr=0.01)))
    (stale / "eval.json").write_text(json.dumps({"split": "test", "error": 0.02, "passes": 10}))
    with pytest.raises(StnlabError, match=r"another recipe \(lr: 0\.01 there, 0\.05 now\); move it away"):
        run_table(table, tmp_path / "runs", cells=["mnist-rot/CNN"], sets={"steps": 7}, seeds=1, passes=1,
                  progress=False)


def test_runner_trains_missing_seeds_keeps_finished_and_exports_results(tmp_path, monkeypatch):
    calls = []
    _fake_runs(monkeypatch, calls)
    table = get_table("mnist-rst")
    key = budget_key("paper", {"steps": 7})
    done = run_dir(table, table.cell("CNN", "R"), tmp_path / "runs", key, 0)
    done.mkdir(parents=True)
    (done / "config.json").write_text(json.dumps(_planned(table, "CNN", 0, threads=1)))  # host keys may differ
    (done / "metrics.jsonl").write_text('{"epoch": 50.0, "wall_time": 9.0}\n')
    (done / "eval.json").write_text(json.dumps({"split": "test", "error": 0.02, "error_std": 0.001, "passes": 10}))
    half = run_dir(table, table.cell("STN-C0", "R"), tmp_path / "runs", key, 1)
    half.mkdir(parents=True)
    (half / "config.json").write_text(json.dumps(_planned(table, "STN-C0", 1)))
    (half / "last.pt").write_bytes(b"")
    dead = run_dir(table, table.cell("STN-DL1", "R"), tmp_path / "runs", key, 0)
    dead.mkdir(parents=True)
    (dead / "config.json").write_text("{}")
    landed = tmp_path / "results" / "runs" / "mnist-rst" / key / "mnist-rot" / "STN-DL1" / "seed1"
    landed.mkdir(parents=True)  # trained on another machine: only its committed files are here
    (landed / "eval.json").write_text(json.dumps({"split": "test", "error": 0.03, "error_std": 0.001, "passes": 1}))
    (landed / "config.json").write_text(json.dumps(_planned(table, "STN-DL1", 1)))
    (landed / "metrics.jsonl").write_text('{"epoch": 50.0, "wall_time": 9.0}\n')

    out = run_table(table, tmp_path / "runs", cells=["R"], sets={"steps": 7}, seeds=2, passes=1, progress=False,
                    results=tmp_path / "results")
    assert len(out) == 5 and all(len(v) == 2 and None not in v for v in out.values())
    trained = [c for c in calls if c[0] == "train"]
    assert ("train", "STN-C0", "seed1", True, 7, False) in trained  # interrupted: resumed, not restarted
    assert ("train", "STN-DL1", "seed0", False, 7, True) in trained  # died before its first checkpoint: restarted
    assert ("train", "STN-SL1", "seed1", False, 7, False) in trained
    assert not any(c[1] == "CNN" and c[2] == "seed0" for c in calls)  # finished: untouched
    assert not any(c[1] == "STN-DL1" and c[2] == "seed1" for c in calls)  # committed: not trained again
    assert out["mnist-rot/STN-DL1"][1]["error"] == 0.03
    assert len(trained) == 8

    data = json.loads((tmp_path / "results" / "mnist-rst.json").read_text())
    cnn = next(c for c in data["cells"] if c["row"] == "CNN" and c["column"] == "R")
    assert cnn["errors"] == [2.0, 2.0] and cnn["budget"] == key and cnn["std"] == 0.0 and cnn["paper"] == 1.71
    sl1 = next(c for c in data["cells"] if c["row"] == "STN-SL1")
    assert sl1["errors"] == [1.0, 2.0] and abs(sl1["std"] - 0.7071) < 1e-3 and sl1["seeds"] == [0, 1]
    exported = tmp_path / "results" / "runs" / "mnist-rst" / key / "mnist-rot" / "STN-SL1" / "seed1"
    assert sorted(p.name for p in exported.iterdir()) == ["cell.json", "config.json", "eval.json", "metrics.jsonl"]
    assert json.loads((exported / "cell.json").read_text())["seed"] == 1  # the budget and commit are recorded
    assert "(n=2)†" in (tmp_path / "results" / "mnist-rst.md").read_text()  # --set: not the paper budget


def test_every_table_names_its_budgets():
    for table in tables().values():
        assert {"paper", "cpu", "smoke"} <= set(table.budgets), table.name
        assert table.budget("smoke").seeds == 1
    with pytest.raises(StnlabError, match="valid: paper, cpu, smoke"):
        get_table("mnist-rst").budget("huge")


def test_readme_results_and_claims_agree_with_committed_results():
    repo = Path(__file__).resolve().parents[1]
    text = (repo / "README.md").read_text()
    assert readme_block(tables(), repo / "results") in text, "run `stnlab tables --write-readme README.md`"
    assert (repo / "results" / "CLAIMS.md").read_text() == format_claims(repo / "results"), "run `stnlab claims`"


def test_reproduce_smoke_budget_end_to_end(data_root, tmp_path, capsys):
    code = main(["reproduce", "mnist-rst", "--budget", "smoke", "--runs", str(tmp_path / "runs"), "--results",
                 str(tmp_path / "results"), "--no-progress"])
    assert code == 0
    data = json.loads((tmp_path / "results" / "mnist-rst.json").read_text())
    assert len(data["cells"]) == 15 and all(c["budget"] == "smoke" and len(c["errors"]) == 1 for c in data["cells"])
    assert not list((tmp_path / "results").rglob("*.pt"))  # never a checkpoint in the results
    assert "smoke" in capsys.readouterr().out
    for ev in (tmp_path / "results" / "runs").rglob("eval.json"):  # committed files name runs by their place
        label = ev.parent.relative_to(tmp_path / "results" / "runs").as_posix()  # under any runs root, not here
        assert json.loads(ev.read_text())["run"] == label and (tmp_path / "runs" / label / "best.pt").is_file()
    # the qualitative result's report runs on those (barely trained) models
    assert main(["canonical", "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "results"),
                 "--budget", "smoke", "--images", "6"]) == 0
    comp = json.loads((tmp_path / "results" / "mnist-compensation.json").read_text())
    assert [r["model"] for r in comp["models"]] == ["STN-SL1", "STN-C0", "STN-C1"]
    assert [r["run"] for r in comp["models"]] == [f"mnist-rst/smoke/mnist-rot/{m}/seed0" for m in
                                                  ("STN-SL1", "STN-C0", "STN-C1")]
    assert all(-5 < r["slope"] < 5 and len(r["applied"]) == 7 for r in comp["models"])
    for r in comp["models"]:  # the breakdowns: per applied value (canonical = applied + predicted), per class
        assert r["canonical_mean"] == pytest.approx([a + p for a, p in zip(r["applied"], r["predicted_mean"])],
                                                    abs=1e-3)
        assert len(r["canonical_std"]) == 7 and min(r["canonical_std"]) >= 0
        by_class = r["class_std_by_class"].values()
        assert sum(by_class) / len(by_class) == pytest.approx(r["class_std"], rel=1e-5)
    assert (tmp_path / "results" / "figures" / "mnist-canonical.png").stat().st_size > 10_000
    assert [(r["model"], r["seed"], r["slope"]) for r in comp["per_seed"]] == [
        (r["model"], 0, r["slope"]) for r in comp["models"]]
    before = (tmp_path / "results" / "mnist-compensation.json").read_text()
    assert main(["canonical", "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "results"),
                 "--budget", "smoke", "--images", "6", "--seed", "0", "1"]) == 2  # seed 1 was not trained
    assert "--seeds 2" in capsys.readouterr().err
    assert (tmp_path / "results" / "mnist-compensation.json").read_text() == before  # nothing half-written
    assert main(["canonical", "--runs", str(tmp_path / "nothing"), "--results", str(tmp_path / "r2")]) == 2
    c1 = tmp_path / "runs" / "mnist-rst" / "smoke" / "mnist-rot" / "STN-C1" / "seed0"
    saved = (c1 / "eval.json").read_text()
    (c1 / "eval.json").unlink()  # a run still training (a checkpoint, no final eval.json) is never measured
    assert main(["canonical", "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "results"),
                 "--budget", "smoke", "--images", "6"]) == 2
    assert "STN-C1 run in" in (err := capsys.readouterr().err) and "has not finished" in err
    (c1 / "eval.json").write_text(saved)
    # the S column: scalings 0.5..4 on the 112-px canvas, reported in octaves
    assert main(["canonical", "--column", "S", "--runs", str(tmp_path / "runs"), "--results",
                 str(tmp_path / "results"), "--budget", "smoke", "--images", "4"]) == 0
    scale = json.loads((tmp_path / "results" / "mnist-compensation-scale.json").read_text())
    assert scale["kind"] == "scale" and scale["unit"] == "octaves" and scale["column"] == "S"
    assert scale["models"][0]["applied"] == pytest.approx([-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0], abs=1e-5)
    assert (tmp_path / "results" / "figures" / "mnist-canonical-scale.png").stat().st_size > 10_000
    assert "| class std (octaves) |" in readme_block(tables(), tmp_path / "results")
    _canonical_translation_one_model_at_a_time(tmp_path, capsys)


def _canonical_translation_one_model_at_a_time(tmp_path, capsys):
    """Column T, measured model by model (checkpoints need not outlive a session): rows merge, never mix."""
    args = ["canonical", "--column", "T", "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "results"),
            "--budget", "smoke", "--images", "4"]
    path = tmp_path / "results" / "mnist-compensation-trans.json"
    assert main([*args, "--models", "STN-C0"]) == 0
    first = json.loads(path.read_text())
    assert first["kind"] == "translation" and first["unit"] == "px" and [r["model"] for r in first["models"]] == [
        "STN-C0"]
    assert first["models"][0]["applied"] == pytest.approx([-16.0, -8.0, 0.0, 8.0, 16.0], abs=1e-4)
    assert first["view_model"] == "STN-C0"  # the figure's model on T (STN-C1) is not measured yet
    assert main([*args, "--models", "STN-C1", "STN-SL1"]) == 0
    assert json.loads(path.read_text())["view_model"] == "STN-C1"
    assert main([*args, "--models", "STN-SL1"]) == 0  # C1 kept: its run still shows in the figure
    both = json.loads(path.read_text())
    assert both["view_model"] == "STN-C1"
    assert [r["model"] for r in both["models"]] == ["STN-SL1", "STN-C0", "STN-C1"]
    assert both["models"][1] == first["models"][0]  # the earlier measurement is kept as it was
    assert [r["model"] for r in both["per_seed"]] == ["STN-SL1", "STN-C0", "STN-C1"]
    assert (tmp_path / "results" / "figures" / "mnist-canonical-trans.png").stat().st_size > 10_000
    capsys.readouterr()
    before = path.read_text()
    assert main([*args[:-1], "5", "--models", "STN-C0"]) == 2  # other digits: would mix two measurements
    assert "--models" in capsys.readouterr().err and path.read_text() == before
    assert main([*args, "--models", "STN-C9"]) == 2
    assert "valid: STN-SL1, STN-C0, STN-C1" in capsys.readouterr().err
    assert "| class std (px) |" in readme_block(tables(), tmp_path / "results")
    assert next(c for c in CLAIMS if c.key == "M-align-T").weigh(tmp_path / "results").verdict != "not run here"


def test_remeasuring_one_model_keeps_every_seed_of_the_others(tmp_path):
    """A 3-seed report, then one model measured again on seed 0: the other models keep all three seeds' rows."""
    row = {"budget": "paper", "seed": 0, "slope": -0.7, "r2": 0.6, "class_std": 25.0}
    report = {"images": 200, "models": [{**row, "model": m} for m in ("STN-SL1", "STN-C1")],
              "per_seed": [{**row, "model": m, "seed": s, "slope": -0.1 * s} for s in (0, 1, 2)
                           for m in ("STN-SL1", "STN-C1")]}
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    models, per_seed = kept_rows(path, ["STN-SL1"], [0], "paper", 200)
    assert [r["model"] for r in models] == ["STN-C1"]
    assert [(r["model"], r["seed"], r["slope"]) for r in per_seed] == [("STN-C1", s, -0.1 * s) for s in (0, 1, 2)]
    with pytest.raises(StnlabError, match="measure every model again"):
        kept_rows(path, ["STN-SL1"], [1], "paper", 200)  # other digits: never mixed
    cpu = tmp_path / "cpu.json"
    cpu.write_text(json.dumps({**report, "models": [{**r, "budget": "cpu"} for r in report["models"]]}))
    assert kept_rows(cpu, ["STN-SL1"], [0], "paper", 200) == ([], [])  # a better budget replaces the report
    with pytest.raises(StnlabError, match="`paper` budget's measurement"):
        kept_rows(path, ["STN-SL1"], [0], "cpu", 200)  # never the other way round
    # a recipe variant (`stnlab reproduce --set`) ranks below every named budget and replaces none of them
    assert budget_rank("medium+augment_rotation=0") > budget_rank("smoke") > budget_rank("paper")
    with pytest.raises(StnlabError, match="give --results another folder"):
        kept_rows(cpu, ["STN-SL1"], [0], "cpu+augment_rotation=0", 200)
    variant = tmp_path / "variant.json"
    variant.write_text(json.dumps({**report, "models": [{**r, "budget": "cpu+x=1"} for r in report["models"]]}))
    with pytest.raises(StnlabError, match="give --results another folder"):
        kept_rows(variant, ["STN-SL1"], [0], "cpu+x=2", 200)  # nor another variant's
    assert kept_rows(variant, ["STN-SL1"], [0], "smoke", 200) == ([], [])  # a named budget replaces a variant


def test_reproduce_jobs_trains_runs_in_parallel_processes_with_the_sequential_result(data_root, tmp_path):
    table, cells = get_table("mnist-rst"), ["mnist-rot/CNN", "mnist-rot/STN-C0"]
    threads = max(1, cpu_count() // 2)
    par = run_table(table, tmp_path / "par", budget="smoke", cells=cells, jobs=2, progress=False, root=data_root,
                    results=tmp_path / "results")
    seq = run_table(table, tmp_path / "seq", budget="smoke", cells=cells, sets={"threads": threads}, progress=False,
                    root=data_root)
    assert list(par) == cells and [r[0]["error"] for r in par.values()] == [r[0]["error"] for r in seq.values()]
    for cell in cells:  # each worker ran with 1/jobs of the cores
        folder = run_dir(table, table.cells[[c.key for c in table.cells].index(cell)], tmp_path / "par", "smoke")
        assert json.loads((folder / "config.json").read_text())["threads"] == threads
    assert len(json.loads((tmp_path / "results" / "mnist-rst.json").read_text())["cells"]) == 2
    assert main(["reproduce", "mnist-rst", "--budget", "smoke", "--jobs", "0", "--runs", str(tmp_path / "x")]) == 2
    with pytest.raises(StnlabError, match="MNIST file"):  # a worker's error reaches the caller as it is
        run_table(table, tmp_path / "bad", budget="smoke", cells=cells, jobs=2, progress=False, root=tmp_path / "no")


def _dirs(tmp_path):
    return ["--runs", str(tmp_path), "--results", str(tmp_path / "res")]


def test_bad_table_and_cell(capsys, tmp_path):
    with pytest.raises(StnlabError, match="valid: mnist-eq, mnist-rst"):
        get_table("mnist")
    with pytest.raises(StnlabError, match="matches no cell"):
        select_cells(get_table("svhn-depth"), ["STN-C5"])
    rst = get_table("mnist-rst")  # a key names its cell with or without its overrides (+grad_clip=1.0)
    short, full = select_cells(rst, ["mnist-trans/STN-C1"]), select_cells(rst, ["mnist-trans/STN-C1+grad_clip=1.0"])
    assert short == full and [c.key for c in short] == ["mnist-trans/STN-C1+grad_clip=1.0"]
    with pytest.raises(StnlabError, match=r"--cell mnist-trans/STN-C9 matches no cell"):  # not silently dropped
        select_cells(rst, ["T", "mnist-trans/STN-C9"])
    assert main(["reproduce", "mnist-rst", "--cell", "nothing", *_dirs(tmp_path)]) == 2
    assert "matches no cell" in capsys.readouterr().err
    assert main(["reproduce", "svhn-depth", "--collect-only", *_dirs(tmp_path)]) == 0
    assert "| 8 | — / 4.00 | — / 3.76 | — / 3.26 |" in capsys.readouterr().out


def test_bad_values_and_corrupt_results(capsys, tmp_path):
    assert main(["reproduce", "mnist-rst", "--collect-only", "--set", "epochs=abc", *_dirs(tmp_path)]) == 2
    assert "epochs" in capsys.readouterr().err
    assert main(["reproduce", "mnist-rst", "--collect-only", "--passes", "0", *_dirs(tmp_path)]) == 2
    assert "--passes" in capsys.readouterr().err
    table = get_table("mnist-rst")
    folder = run_dir(table, table.cells[0], tmp_path)
    folder.mkdir(parents=True)
    (folder / "eval.json").write_text("[1, 2]")
    assert main(["reproduce", "mnist-rst", "--collect-only", *_dirs(tmp_path)]) == 2
    assert "is not an eval result" in capsys.readouterr().err
