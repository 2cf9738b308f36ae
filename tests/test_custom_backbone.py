"""Any backbone -> the papers' models (build_stn): the README example, the contract, the accepted forms."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
import torch
from torch import nn

import stnlab
from helpers import check_contract, check_sl_shares, make_image_folder
from stnlab.models import as_backbone, build_backbone, build_stn, create_model

torch.set_num_threads(2)
README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
EXAMPLE = re.search(r"## Your own data and backbone\n.*?```python\n(.*?)```", README, re.S).group(1)
LINE = 'data, steps = "folder:shapes", 100'


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The README example, run for 3 steps on a small folder of 3 classes x 16 images."""
    folder = make_image_folder(tmp_path_factory.mktemp("own") / "shapes", classes=3, per_class=16)
    assert LINE in EXAMPLE
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(compile(EXAMPLE.replace(LINE, f'data, steps = "folder:{folder}", 3'), "README.md", "exec"), namespace)
    return {**namespace, "printed": out.getvalue()}


def test_readme_example_trains(example):
    assert "step 3: loss" in example["printed"] and torch.isfinite(example["loss"])
    model = example["model"]
    assert model.input_st.family == "similarity" and len(model.backbone.stages) == 4
    out_layer = model.input_st.loc_nets[0].out
    assert out_layer.weight.abs().sum() > 0  # the loc-net left its zero start: it was trained


@pytest.mark.parametrize("name,family", [("STN-SL2", "similarity"), ("STN-DL3", "affine"), ("STN-C2", "rotation"),
                                         ("STN-SL0123", "similarity")])
def test_user_backbone_passes_the_model_contract(example, name, family):
    torch.manual_seed(0)
    spec, my_cnn = example["spec"], example["my_cnn"]
    cnn = build_stn(my_cnn(spec.in_channels, spec.num_classes), spec.input_shape, "CNN")
    model = build_stn(my_cnn(spec.in_channels, spec.num_classes), spec.input_shape, name, family=family)
    check_contract(cnn, model, torch.rand(3, *spec.input_shape), spec.num_classes)
    if name == "STN-SL2":
        check_sl_shares(model, 2)


class TinyResNet(nn.Module):
    """A torchvision-style model: named children, flattening inside forward()."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1, self.relu = nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU()
        self.maxpool = nn.MaxPool2d(2)
        self.layer1 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.layer2 = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU())
        self.avgpool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.avgpool(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(x, 1))


def test_split_points_of_a_torchvision_style_model():
    net = TinyResNet().eval()
    backbone = as_backbone(net, split_points=["maxpool", "layer1", "layer2"])
    assert len(backbone.stages) == 3 and backbone.stages[1][0] is net.layer1
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(backbone.eval()(x), net(x))
    model = build_stn(TinyResNet(), (1, 32, 32), "STN-SL2", split_points=["maxpool", "layer1", "layer2"],
                      loc_net="small")
    check_sl_shares(model, 2)
    with pytest.raises(stnlab.StnlabError, match="split point\\(s\\) layer9 are not children"):
        as_backbone(TinyResNet(), split_points=["layer9"])


def test_sequential_list_and_head_forms_are_the_same_backbone():
    def layers():
        torch.manual_seed(1)
        return [nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()), nn.Sequential(nn.Flatten(), nn.Linear(4 * 26 * 26, 3))]

    x = torch.rand(2, 1, 28, 28)
    a = build_stn(nn.Sequential(*layers()), (1, 28, 28)).eval()
    *stages, head = layers()
    b = build_stn(stages, (1, 28, 28), head=head).eval()
    assert len(a.backbone.stages) == len(b.backbone.stages) == 1 and torch.equal(a(x), b(x))
    with pytest.raises(stnlab.StnlabError, match="does not run on inputs of shape \\(1, 20, 20\\)"):
        build_stn(layers(), (1, 20, 20))
    with pytest.raises(stnlab.StnlabError, match="at least one stage"):
        build_stn([nn.Linear(3, 3)], (1, 28, 28))


def test_a_loc_net_body_of_ones_own():
    def body(in_shape, on_image):  # the loc-net input (C, H, W) -> a flat vector
        return nn.Sequential(nn.Flatten(), nn.Linear(int(torch.tensor(in_shape).prod()), 8), nn.Tanh())

    layers = [nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()), nn.Sequential(nn.Flatten(), nn.Linear(4 * 26 * 26, 3))]
    cnn = build_stn([nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()), nn.Sequential(nn.Flatten(),
                    nn.Linear(4 * 26 * 26, 3))], (1, 28, 28))
    model = build_stn(layers, (1, 28, 28), "STN-C1", family="translation", loc_net=body)
    assert isinstance(model.feature_sts["1"].loc_nets[0].hidden[2], nn.Tanh)
    check_contract(cnn, model, torch.rand(2, 1, 28, 28), 3)


def test_create_model_is_build_stn_on_the_registered_backbone():
    torch.manual_seed(3)
    a = create_model("STN-DL1", "mnist-rot", family="similarity")
    torch.manual_seed(3)
    b = build_stn(build_backbone("mnist-rot"), (1, 28, 28), "STN-DL1", family="similarity", loc_net="mnist")
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
