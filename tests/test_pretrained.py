"""Pretrained weights: exported from a run, shipped with the package, loaded offline, reproducing their error."""

import json
from pathlib import Path

import pytest
import torch

import stnlab.models.pretrained as pretrained
from stnlab.cli import main
from stnlab.data import make_source
from stnlab.errors import StnlabError
from stnlab.models import create_model
from stnlab.train import build_config, evaluate, evaluate_run, train

SHIPPED = sorted(pretrained.weights_index())


def _subset_error(model: torch.nn.Module, config: dict, samples: int) -> float:
    """The error of ``model`` on the first ``samples`` test images, pass 0, as the export measured it."""
    source = make_source(config["dataset"], "test", seed=config["data_seed"])
    if config["channels_last"]:
        model.to(memory_format=torch.channels_last)
    return evaluate(model, source, passes=1, batch_size=config["eval_batch_size"], max_samples=samples,
                    channels_last=config["channels_last"], precision=config.get("precision", "fp32"))["error"]


def test_export_then_load_gives_the_same_weights_and_subset_error(data_root, tmp_path, monkeypatch):
    run = tmp_path / "run"
    cfg = build_config({"model": "STN-SL1", "dataset": "mnist-rot", "steps": 3, "batch_size": 32,
                        "val_samples": 64, "eval_batch_size": 64, "st_grid_every": 0})
    train(cfg, run, progress=False)
    evaluate_run(run, passes=1, max_samples=64)
    weights = tmp_path / "weights"
    assert main(["export-weights", str(run), "--weights-dir", str(weights)]) == 0
    entry = json.loads((weights / "index.json").read_text())["mnist-rot/STN-SL1"]
    assert entry["run"] == str(run)  # no cell.json: not a `reproduce` run, named by its folder
    assert (weights / entry["file"]).stat().st_size < 2_000_000
    saved = torch.load(weights / entry["file"], weights_only=True)
    fresh = create_model("STN-SL1", "mnist-rot").state_dict()
    pairs = [(a, b) for a in fresh for b in fresh if a < b and fresh[a].data_ptr() == fresh[b].data_ptr()]
    assert pairs  # STN-SL1 registers its shared trunk under two names ...
    for a, b in pairs:  # ... and the file holds it once
        assert saved[a].untyped_storage().data_ptr() == saved[b].untyped_storage().data_ptr(), (a, b)
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", weights)
    model = create_model("STN-SL1", "mnist-rot", pretrained=True)
    reference = torch.load(run / "best.pt", weights_only=False)["model"]
    for key, value in model.state_dict().items():
        assert torch.equal(value, reference[key]), key
    assert abs(_subset_error(model, entry["config"], entry["subset"]["samples"]) - entry["subset_error"]) < 2e-3
    with pytest.raises(StnlabError, match="no pretrained weights for CNN on mnist-rot"):
        create_model("CNN", "mnist-rot", pretrained=True)
    with pytest.raises(StnlabError, match="do not fit"):
        create_model("STN-SL1", "mnist-rot", family="rotation", pretrained=True)
    (weights / entry["file"]).write_bytes(b"corrupt")
    with pytest.raises(StnlabError, match="sha256"):
        create_model("STN-SL1", "mnist-rot", pretrained=True)


@pytest.mark.parametrize("key", SHIPPED or [pytest.param("none", marks=pytest.mark.skip("no weights shipped"))])
def test_shipped_weights_reproduce_their_committed_subset_error(data_root, key):
    entry = pretrained.weights_index()[key]
    dataset, name = key.split("/")
    model = create_model(name, dataset, pretrained=True)  # offline, from the installed package
    got = _subset_error(model, entry["config"], entry["subset"]["samples"])
    assert abs(got - entry["subset_error"]) < 2e-3, (got, entry["subset_error"])


def test_shipped_weights_name_their_committed_run():
    """Each shipped entry's ``run`` is its place under ``results/runs/`` (no machine's path): its committed test
    error is the entry's."""
    results = Path(__file__).resolve().parents[1] / "results" / "runs"
    for key, entry in pretrained.weights_index().items():
        ev = results / entry["run"] / "eval.json"
        assert ev.is_file(), (key, entry["run"])
        assert json.loads(ev.read_text())["error"] == entry["test_error"], key
