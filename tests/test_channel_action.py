"""The alignment residual with a channel action: the orientation shift's direction and the CLI option. (That it
aligns a group CNN's maps at quarter turns, and not without the shift or for a plain CNN: tests/test_mnist_eq.py,
on the alignment-curve report.)"""

from __future__ import annotations

import json

import torch

from helpers import cli_error
from stnlab.analysis import RegularFieldAction, parse_channel_action
from stnlab.cli import main
from stnlab.models import create_model
from test_equivariant import blobs

torch.set_num_threads(2)


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
