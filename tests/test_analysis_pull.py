"""Rotation pull: the loss gradient that would teach a loc-net to rotate."""

import pytest
import torch
from torch import nn

from stnlab.analysis.pull import rotation_pull
from stnlab.errors import StnlabError
from stnlab.models import create_model


class UprightBar(nn.Module):
    """Logit of class 0 = how well the image matches a vertical bar (prefers upright bars)."""

    def __init__(self) -> None:
        super().__init__()
        self.template = torch.zeros(1, 1, 21, 21)
        self.template[..., 2:19, 9:12] = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = (x * self.template).flatten(1).sum(1) / 10
        return torch.stack([score, -score], dim=1)


def test_pull_turns_a_tilted_bar_back_and_vanishes_when_upright():
    images, labels = UprightBar().template.clone(), torch.zeros(1, dtype=torch.long)
    pull = rotation_pull(UprightBar(), images, labels, [-30.0, 0.0, 30.0])
    assert pull[0] * pull[2] < 0  # opposite signs: gradient descent on phi turns either tilt back
    assert abs(pull[1]) < 0.05 * abs(pull[0])
    assert torch.allclose(pull[0], -pull[2], rtol=0.05)  # symmetric bar: symmetric pull


def test_pull_of_an_identity_stn_equals_its_cnn_and_feature_map_sts_are_refused():
    torch.manual_seed(0)
    x, y = torch.rand(4, 1, 28, 28), torch.randint(0, 10, (4,))
    cnn, stn = create_model("CNN", "mnist-rot"), create_model("STN-SL1", "mnist-rot")
    stn.backbone.load_state_dict(cnn.backbone.state_dict())
    assert torch.allclose(rotation_pull(cnn, x, y, [45.0]), rotation_pull(stn, x, y, [45.0]), atol=1e-5)
    with pytest.raises(StnlabError, match="warps feature maps"):
        rotation_pull(create_model("STN-C1", "mnist-rot"), x, y, [45.0])
