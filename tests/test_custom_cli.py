"""Done-when: a small image folder and a small IDX set, made on the fly, through train / eval / data show /
analyze with protocol=rotation, as a user runs them."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from helpers import make_idx, make_image_folder
from stnlab.cli import main
from stnlab.train import build_config, load_run

torch.set_num_threads(2)


@pytest.fixture(params=["folder", "idx"])
def dataset(request, tmp_path):
    if request.param == "folder":
        return f"folder:{make_image_folder(tmp_path / 'shapes', classes=3, per_class=12, size=28)}"
    return f"idx:{make_idx(tmp_path / 'idx', n_train=36, n_test=9, size=28)}"


def test_train_eval_show_analyze_own_data_with_rotation(dataset, tmp_path, capsys):
    run = tmp_path / "run"
    rc = main(["train", "--model", "STN-SL1", "--dataset", dataset, "--steps", "3", "--out", str(run),
               "--set", "protocol=rotation", "--set", "batch_size=8", "--set", "eval_batch_size=8", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    assert "STN-SL1 on " + dataset in capsys.readouterr().out
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["dataset"] == dataset and cfg["protocol"] == "rotation"

    assert main(["eval", str(run)]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["passes"] == 10 and result["num_samples"] == (3 if dataset.startswith("folder") else 9)
    assert 0 <= result["error"] <= 1 and result["error_std"] > 0  # 10 differently rotated passes

    model, loaded = load_run(run)
    assert loaded == build_config(cfg) and model.input_st.loc_nets[0].trunk[0] is model.backbone.stages[0]

    png = tmp_path / "seen.png"
    assert main(["data", "show", dataset, "--set", "protocol=rotation", "--n", "6", "--split", "train",
                 "--out", str(png)]) == 0
    shown = capsys.readouterr().out
    assert "6 " + dataset + " train images of 1 x 28 x 28 (epoch 0, protocol rotation)" in shown
    assert ("'class0'" if dataset.startswith("folder") else "'0'") in shown  # labels by class name
    with Image.open(png) as im:
        assert im.format == "PNG" and min(im.size) > 28

    assert main(["analyze", "compensation", str(run), "--images", "4", "--values", "0", "90", "--no-progress"]) == 0
    comp = json.loads((run / "analysis" / "compensation_rotation.json").read_text())
    assert comp["dataset"] == dataset and len(comp["values"]) == 2
