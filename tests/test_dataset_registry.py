"""The data-set registry: a data set registered from this test file (no library file edited) is a data set
everywhere -- names, specs, run-config defaults, models, sources, ``stnlab train``/``eval`` -- and the built-in
ones are each one registered entry."""

from __future__ import annotations

import pytest
import torch

import stnlab
from stnlab.cli import main
from stnlab.data import (
    BUILTIN,
    DatasetInfo,
    DataSpec,
    SourceOptions,
    dataset_names,
    dataset_spec,
    make_source,
    register_dataset,
    root_names,
    unregister_dataset,
)
from stnlab.data.mnist import MD5, MNIST
from stnlab.data.protocols import ProtocolSource, SplitImages
from stnlab.data.rng import make_key, uniform
from stnlab.errors import StnlabError
from stnlab.models import DATASETS
from stnlab.train import build_config, evaluate_run, load_run, read_metrics, train

SIZES = {"train": 96, "val": 32, "test": 32}


def bar_images(split: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` uint8 24 x 24 images of one bar each, horizontal (class 0) or vertical (class 1), at a seeded place."""
    u = uniform(make_key("bars", split), torch.arange(n), 2)
    labels = (u[:, 0] < 0.5).long()
    images = torch.zeros(n, 24, 24, dtype=torch.uint8)
    for i, (label, place) in enumerate(zip(labels.tolist(), (4 + u[:, 1] * 16).long().tolist())):
        if label:
            images[i, 3:21, place:place + 3] = 255
        else:
            images[i, place:place + 3, 3:21] = 255
    return images, labels


def bars_source(name: str, split: str, options: SourceOptions) -> ProtocolSource:
    """The split of ``bars`` seen through ``options.protocol`` (``name`` is its variant's: ``bars-rot``)."""
    images, labels = bar_images(split, SIZES[split])
    pool = bar_images("train", SIZES["train"])[0]
    return ProtocolSource(name, split, options.seed, SplitImages(images, labels, pool, 2), options.protocol)


@pytest.fixture
def bars():
    spec = DataSpec("bars", (1, 24, 24), 2, ("horizontal", "vertical"), content_size=24,
                    defaults={"batch_size": 16, "lr": 0.05})
    info = register_dataset(DatasetInfo(spec, bars_source, variants={"bars-rot": "rotation"}, protocols=True,
                                        splits="96 / 32 / 32 synthetic bars"))
    try:
        yield info
    finally:
        unregister_dataset("bars")


def test_a_registered_data_set_is_known_everywhere(bars):
    assert {"bars", "bars-rot"} <= set(dataset_names()) and "bars-rot" in stnlab.list_datasets()
    assert DATASETS["bars-rot"].protocol == "rotation" and DATASETS["bars-rot"].test_passes == 10
    assert dataset_spec("bars", protocol="rotation") == BUILTIN["bars-rot"]
    assert dataset_spec("bars", protocol="translation").input_shape == (1, 52, 52)  # 24 + 2 round(16 * 24 / 28)
    assert "bars" not in root_names()  # not in the data root: no status, fetch or import
    cfg = build_config({"model": "STN-C0", "dataset": "bars-rot"})
    assert (cfg.batch_size, cfg.lr) == (16, 0.05)  # the registered defaults
    rot = next(make_source("bars-rot", "test").batches(8, return_params=True))
    same = next(make_source("bars", "test", protocol="rotation").batches(8, return_params=True))
    assert torch.equal(rot.images, same.images) and rot.params["angle"].abs().max() > 0
    model = stnlab.create_model("STN-SL1", "bars")
    assert model(torch.rand(2, 1, 24, 24)).shape == (2, 2)
    with pytest.raises(StnlabError, match="bars-rot already applies the rotation protocol"):
        build_config({"model": "CNN", "dataset": "bars-rot", "protocol": "scale"})
    with pytest.raises(StnlabError, match="already registered"):
        register_dataset(bars)


def test_a_registered_data_set_trains_and_evaluates_through_the_normal_path(bars, tmp_path, capsys):
    cfg = build_config({"model": "STN-C0", "dataset": "bars-rot", "steps": 6, "val_every": 3, "transform_warmup": 1,
                        "st_grid_every": 0})
    train(cfg, tmp_path / "api", progress=False)
    assert [r["step"] for r in read_metrics(tmp_path / "api" / "metrics.jsonl")] == [3, 6]
    ev = evaluate_run(tmp_path / "api", split="test")
    assert ev["passes"] == 10 and ev["num_samples"] == 32 and 0 <= ev["error"] <= 1
    assert load_run(tmp_path / "api")[1] == cfg
    assert main(["train", "--model", "CNN", "--dataset", "bars", "--steps", "3", "--out", str(tmp_path / "cli"),
                 "--no-progress"]) == 0
    assert main(["eval", str(tmp_path / "cli")]) == 0
    assert "CNN on bars (best checkpoint, step 3), test error" in capsys.readouterr().out


def test_unregistered_it_is_unknown_again(bars):
    unregister_dataset("bars")
    try:
        assert "bars-rot" not in dataset_names() and "bars" not in DATASETS
        with pytest.raises(StnlabError, match="unknown dataset 'bars'"):
            make_source("bars", "test")
    finally:
        register_dataset(bars)  # for the fixture's own unregistering


def test_the_built_in_data_sets_are_one_entry_each():
    assert root_names() == ("mnist", "plankton", "svhn")
    assert MNIST.checksums is MD5 and set(MNIST.variants) == {"mnist-rot", "mnist-trans", "mnist-scale"}
    assert dataset_names() == ("mnist", "mnist-rot", "mnist-trans", "mnist-scale", "plankton", "svhn")
    assert [BUILTIN[n].canvas for n in ("mnist", "mnist-rot", "mnist-trans", "mnist-scale")] == [28, 28, 60, 112]
    with pytest.raises(TypeError, match="make_source.. got unexpected keyword argument.s. 'sed'; valid: root"):
        make_source("mnist", "test", sed=1)
