"""The transform-kind registry: one contract over every registered kind (its draws, matrix and read-out), and
the kind the papers lack, ``perspective``, through the data protocol and the compensation analysis."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stnlab.analysis import compensation, parse_transform
from stnlab.data import make_source, protocols
from stnlab.data.kinds import get_kind, kind_names, kinds
from stnlab.data.protocols import ProtocolSource, SplitImages
from stnlab.data.rng import make_key
from stnlab.errors import StnlabError
from stnlab.geometry import invert, warp
from stnlab.train import build_config

KINDS = kind_names()
INDEX = torch.arange(100, 164)


def test_the_papers_kinds_and_perspective_are_registered_and_are_the_protocols():
    assert set(KINDS) >= {"rotation", "scale", "translation", "perspective"}
    assert protocols() == ("none", *KINDS)
    with pytest.raises(StnlabError, match="unknown transform kind .shear.; valid: rotation, scale, translation"):
        get_kind("shear")
    assert get_kind("rot", aliases=True) is get_kind("rotation") and get_kind("persp", aliases=True).name == \
        "perspective"


@pytest.mark.parametrize("name", KINDS)
def test_draws_are_a_pure_function_of_key_and_sample(name):
    kind, content = get_kind(name), 28
    canvas = kind.canvas(content)
    assert canvas >= content
    full = kind.draw(make_key(0, "t", "train", "transform", 3), INDEX, content, canvas, 1.0)
    part = kind.draw(make_key(0, "t", "train", "transform", 3), INDEX[10:20].flip(0), content, canvas, 1.0)
    other = kind.draw(make_key(0, "t", "train", "transform", 4), INDEX, content, canvas, 1.0)  # next epoch
    assert full["matrix"].shape == (len(INDEX), 3, 3)
    for key, value in full.items():
        assert torch.equal(value[10:20].flip(0), part[key]), key  # the same sample, in any batch
    assert not torch.equal(full["matrix"], other["matrix"])
    assert (full["matrix"] - torch.eye(3)).abs().amax() > 0.01  # it transforms


@pytest.mark.parametrize("name", KINDS)
def test_amplitude_zero_is_the_identity(name):
    kind = get_kind(name)
    canvas = kind.canvas(28)
    draws = kind.draw(make_key(1, "t"), INDEX, 28, canvas, 0.0)
    assert torch.allclose(draws["matrix"], torch.eye(3).expand(len(INDEX), 3, 3), atol=1e-6)
    half = kind.draw(make_key(1, "t"), INDEX, 28, canvas, 0.5)["matrix"]
    full = kind.draw(make_key(1, "t"), INDEX, 28, canvas, 1.0)["matrix"]
    assert 0 < (half - torch.eye(3)).abs().amax() < (full - torch.eye(3)).abs().amax()


@pytest.mark.parametrize("name", KINDS)
def test_the_read_out_of_a_value_and_of_its_inverse(name):
    """A compensating ST predicts the inverse of the applied matrix: its read-out is minus the applied one."""
    kind = get_kind(name)
    assert kind.applied(0.0 if not kind.positive else 1.0, 28) == pytest.approx(0.0, abs=1e-6)
    for v in kind.default_values:
        if kind.positive and v == 1.0 or not kind.positive and v == 0.0:
            continue
        m = kind.matrix(kind.values(v), 28)
        applied = float(kind.read_out(m, 28)[0])
        assert applied != pytest.approx(0.0, abs=1e-6)
        assert float(kind.read_out(invert(m), 28)[0]) == pytest.approx(-applied, rel=1e-4, abs=1e-5)
        assert parse_transform(f"{kind.label}:{v:g}").matrix(28).allclose(m)


@pytest.mark.parametrize("name", KINDS)
def test_each_kind_is_a_protocol_of_any_images(name):
    kind = get_kind(name)
    images, labels = (torch.rand(40, 20, 20) * 255).to(torch.uint8), torch.arange(40) % 4
    source = ProtocolSource("toy", "train", 0, SplitImages(images, labels, images, 4), name)
    side = kind.canvas(20)
    batch = next(source.batches(8, return_params=True))
    assert batch.images.shape == (8, 1, side, side) and 0 <= float(batch.images.min()) <= float(batch.images.max()) <= 1
    assert torch.equal(batch.images, next(source.batches(8, return_params=True)).images)  # reproducible
    source.set_warmup(4)  # epoch 0 at amplitude 0: the content, centred
    still = next(source.batches(8, return_params=True))
    if kind.clutter is None:
        pad = (side - 20) // 2
        assert torch.allclose(still.images[:, 0, pad:pad + 20, pad:pad + 20], images[still.index].float() / 255,
                              atol=1e-5)


def test_perspective_through_the_config_and_the_mnist_source(data_root):
    cfg = build_config({"model": "STN-C0", "dataset": "mnist", "protocol": "perspective", "family": "projective",
                        "transform_warmup": 2})
    source = make_source("mnist", "test", root=data_root, **cfg.data_options())
    batch = next(source.batches(16, epoch=3, return_params=True))
    assert batch.images.shape == (16, 1, 28, 28) and source.protocol == "perspective"
    px, m = batch.params["px"], batch.params["matrix"]
    assert px.abs().max() <= 0.2 and (px != 0).all() and torch.equal(m[:, 2, 0], px)
    assert torch.allclose(batch.images, warp(_upright(source, batch.index), m), atol=1e-6)


def _upright(source, index):
    return source.images[index].float().div(255)[:, None]


class _Oracle(nn.Module):
    """A stand-in STN whose ST predicts, for each applied value in turn, the exact inverse of its matrix (times
    ``gain``): what a perfectly compensating loc-net would; ``gain`` 0 is an ST that never moves."""

    def __init__(self, kind: str, values: list[float], size: int, gain: float) -> None:
        super().__init__()
        spec = get_kind(kind)
        self.input_st, self.backbone = nn.Identity(), nn.Module()
        self.backbone.stages = nn.ModuleList()
        self.weight = nn.Parameter(torch.zeros(1))
        self.queue = [spec.matrix(spec.values(v), size) for v in values]
        self.gain = gain

    def forward(self, x: torch.Tensor, return_transforms: bool = False):
        m = self.queue.pop(0)
        inverse = torch.eye(3) + self.gain * (invert(m) - torch.eye(3))
        return torch.zeros(len(x), 10) + self.weight, [inverse.expand(len(x), 3, 3)]


@pytest.mark.parametrize("gain,slope", [(1.0, -1.0), (0.0, 0.0)])
def test_perspective_compensation_read_out(gain, slope):
    values = list(get_kind("perspective").default_values)
    images, labels = torch.rand(6, 1, 28, 28), torch.arange(6) % 3
    res = compensation(_Oracle("perspective", values, 28, gain), images, labels, kind="perspective")
    assert res.kind == "perspective" and res.circ_corr is None
    assert res.applied.tolist() == pytest.approx(values, abs=1e-6)
    assert res.slope == pytest.approx(slope, abs=1e-5)
    assert res.r2 == pytest.approx(1.0 if gain else 0.0, abs=1e-5)


def test_registry_is_read_only_and_names_are_unique():
    from stnlab.data.kinds import register_kind

    with pytest.raises(TypeError):
        kinds()["x"] = get_kind("rotation")  # type: ignore[index]
    with pytest.raises(StnlabError, match="already registered"):
        register_kind(get_kind("rotation"))
