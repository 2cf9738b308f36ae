"""stnlab.io (atomic writes, strict JSON, output checks) and stnlab.modes.eval_mode."""

from __future__ import annotations

import json
import os

import pytest
import torch
from torch import nn

from stnlab.errors import StnlabError
from stnlab.io import (
    atomic_path,
    atomic_write,
    check_creatable,
    parse_json,
    read_json,
    write_bytes,
    write_json,
    write_text,
)
from stnlab.modes import eval_mode


def test_writers_write_whole_files_and_leave_no_temporaries(tmp_path):
    assert write_json(tmp_path / "a" / "x.json", {"k": [1, 2]}) == tmp_path / "a" / "x.json"
    assert json.loads((tmp_path / "a" / "x.json").read_text()) == {"k": [1, 2]}
    write_text(tmp_path / "t.txt", "héllo\n")
    write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo\n"
    assert (tmp_path / "b.bin").read_bytes() == b"\0\1"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b.bin", "t.txt", "x.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "keep.txt"
    write_text(target, "old")

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, broken)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["keep.txt"]
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "folder") as tmp:
        tmp.mkdir()
        (tmp / "f").write_text("x")
        raise RuntimeError
    assert os.listdir(tmp_path) == ["keep.txt"]  # the half-made folder is gone too


@pytest.mark.parametrize("bad", ["/proc/x/y", "FILE/sub/out"])
def test_outputs_under_an_impossible_parent_are_one_line_errors(tmp_path, bad):
    (tmp_path / "FILE").write_text("a file in the way")
    path = bad.replace("FILE", str(tmp_path / "FILE"))
    with pytest.raises(StnlabError, match="--out") as err:
        check_creatable(path, "--out")
    assert "\n" not in str(err.value)
    with pytest.raises(StnlabError, match="cannot create folder"):
        write_json(f"{path}/x.json", {})
    assert check_creatable(tmp_path / "new" / "deeper", "--out") and not (tmp_path / "new").exists()


def test_json_with_a_duplicated_key_is_refused(tmp_path):
    assert parse_json('{"a": 1, "b": {"a": 2}}') == {"a": 1, "b": {"a": 2}}  # same key, different objects
    with pytest.raises(StnlabError, match="'lr' appears twice"):
        parse_json('{"lr": 0.1, "epochs": 5, "lr": 0.01}', "config.json")
    with pytest.raises(StnlabError, match="not valid JSON .*line 1"):
        parse_json('{"lr": }')
    (tmp_path / "c.json").write_text('{"x": {"y": 1, "y": 2}}')
    with pytest.raises(StnlabError, match=r"c\.json: key 'y' appears twice"):
        read_json(tmp_path / "c.json")
    with pytest.raises(StnlabError, match="cannot read"):
        read_json(tmp_path / "missing.json")


def test_eval_mode_restores_each_modules_own_mode():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.Sequential(nn.BatchNorm1d(2), nn.Dropout()))
    model.train()
    model[2][1].eval()  # mixed modes: model.train(was_training) would lose this
    before = [m.training for m in model.modules()]
    with eval_mode(model):
        assert not any(m.training for m in model.modules())
        x = torch.randn(4, 2)
        assert torch.equal(model(x), model(x))  # dropout off
    assert [m.training for m in model.modules()] == before
    with pytest.raises(ValueError), eval_mode([model[0], model[1]]):
        raise ValueError
    assert [m.training for m in model.modules()] == before
