"""SVHN in the loop: summed per-position loss, sequence error, per-length error, on a synthetic folder."""

import json

import pytest
import torch
import torch.nn.functional as F

from stnlab.train import build_config, compute_loss, evaluate_run, read_metrics, train
from stnlab.train.evaluation import class_of

torch.set_num_threads(2)


def test_sequence_loss_is_the_sum_of_the_position_losses_and_error_needs_every_position():
    logits = torch.randn(6, 5, 11)
    labels = logits.argmax(-1).clone()
    labels[1, 4] = (labels[1, 4] + 1) % 11  # one wrong position -> the whole number is wrong
    loss, wrong = compute_loss(logits, labels)
    per_position = sum(F.cross_entropy(logits[:, i], labels[:, i]) for i in range(5))
    assert loss == pytest.approx(float(per_position), rel=1e-6)
    assert wrong.tolist() == [False, True, False, False, False, False]
    lengths, n = class_of(torch.tensor([[1, 2, 10, 10, 10], [10, 10, 10, 10, 10]]), 11)
    assert lengths.tolist() == [2, 0] and n == 6


def test_svhn_trains_and_evaluates_on_a_synthetic_folder(tmp_path):
    from helpers import make_split

    make_split(tmp_path / "svhn" / "train", 40)
    make_split(tmp_path / "svhn" / "test", 8)
    cfg = build_config({"model": "STN-C0", "dataset": "svhn", "steps": 3, "batch_size": 8, "val_every": 3,
                        "eval_batch_size": 8})
    assert cfg.loc_lr_multiplier == 0.1 and cfg.weight_decay == 5e-4  # Jaderberg's SVHN settings
    with pytest.warns(UserWarning):  # the data set warns that 'extra' is missing, ...
        rec = train(cfg, tmp_path / "run", progress=False, root=tmp_path, cache_dir=tmp_path / "cache")
    assert rec["step"] == 3 and rec == read_metrics(tmp_path / "run" / "metrics.jsonl")[-1]
    assert 5 < rec["train_loss"] < 5 * 2.5  # five heads of 11 classes start near 5 * ln(11) = 12
    assert rec["st"][0]["samples"] == 4 and "compensation" not in rec["st"][0]  # no applied transforms in SVHN
    assert (tmp_path / "run" / "st_grid_epoch001.png").is_file()  # a colour grid from the 4 validation images
    with pytest.warns(UserWarning):  # ... and that it dropped a 6-digit number
        res = evaluate_run(tmp_path / "run", root=tmp_path, cache_dir=tmp_path / "cache")
    assert res["passes"] == 1 and res["num_samples"] == 8
    assert set(res["per_class_error"]) == {"2"}  # every synthetic number has two digits
    assert res["per_class_error"]["2"] == res["error"]
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["error"] == res["error"]
