"""The alignment residual with a channel action: spatial transform + orientation shift aligns the maps of a
group CNN at quarter turns (exactly), not without the shift, and never for a plain CNN; the CLI option."""

from __future__ import annotations

import json

import pytest
import torch

from helpers import cli_error
from stnlab.analysis import RegularFieldAction, alignment_residual, parse_channel_action
from stnlab.cli import main
from stnlab.models import create_model
from test_equivariant import blobs

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def residuals():
    """Optimum residuals ``{(model, action): D x T}`` on 3 blob images on 60 px (depths 1 and 2; random weights).
    (The plain CNN without the action: tests/test_analysis_alignment.py.)"""
    torch.manual_seed(0)
    images = blobs(3, size=60)
    out = {}
    for name, actions in (("CNN2-eq", (None, RegularFieldAction(8))), ("CNN", (RegularFieldAction(8),))):
        model = create_model(name, "mnist-trans")
        for action in actions:
            res = alignment_residual(model, images, ["rot:90", "rot:180"], depths=[1, 2], steps=2,
                                     channel_action=action)
            out[name, action is not None] = res.optimum.mean(-1)
    return out


def test_group_cnn_aligns_at_quarter_turns_only_with_the_channel_action(residuals):
    assert residuals["CNN2-eq", True].max() <= 1e-4  # exact up to float rounding
    assert residuals["CNN2-eq", False].min() > 0.3  # a spatial transform alone leaves the theorem's residual


def test_plain_cnn_stays_misaligned_with_the_action(residuals):
    assert residuals["CNN", True].min() > 0.3


def test_action_undoes_the_input_rotation_sign():
    """Γ(rot f) carries the orientation shift +alpha N / 360: the action with the same matrix shifts it back."""
    torch.manual_seed(0)
    stage = create_model("CNN1-eq", "mnist-rot").eval().backbone.stages[0]
    x = blobs(2)
    with torch.no_grad():
        a, b = stage(x), stage(torch.rot90(x, 1, dims=(-2, -1)))
    quarter = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]).expand(2, 3, 3)  # rot:90
    back = RegularFieldAction(8)(b, quarter)
    assert torch.allclose(torch.rot90(a, 1, dims=(-2, -1)), back, atol=1e-5)


def test_parse_and_cli(tmp_path, capsys):
    assert parse_channel_action("none") is None and parse_channel_action("regular:4") == RegularFieldAction(4)
    err = cli_error(capsys, "analyze", "alignment", "--out", tmp_path / "x", "--channel-action", "swap")
    assert "regular:N" in err
    out = tmp_path / "eq"
    assert main(["analyze", "alignment", "--model", "CNN2-eq4", "--transforms", "rot:90", "--images", "3",
                 "--depths", "1", "--steps", "2", "--channel-action", "regular:4", "--out", str(out),
                 "--no-progress"]) == 0
    data = json.loads((out / "alignment.json").read_text())
    assert data["channel_action"] == "regular:4" and data["rows"][0]["optimum"]["max"] <= 1e-4
