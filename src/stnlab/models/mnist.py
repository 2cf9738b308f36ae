"""The authors' MNIST CNN (used for plain MNIST, the R, T and S protocols, and the user's own data sets).

conv 9x9, 64 -> maxpool 2 -> ReLU -> conv 7x7, 64 -> maxpool 2 -> ReLU -> linear to 10; no padding.
**Stages** (what depth X counts): stage 1 = conv 9x9 + pool + ReLU, stage 2 = conv 7x7 + pool + ReLU; so
STN-C1 transforms the 64-channel maps after the first conv block. Map sides per stage: 28 -> 10 -> 2,
60 -> 26 -> 10, 112 -> 52 -> 23. For a user's data set the first conv takes its channels and the
linear layer gives its classes.
"""

from __future__ import annotations

from torch import nn

from stnlab.data import DataSpec
from stnlab.errors import StnlabError
from stnlab.models.registry import register_backbone
from stnlab.nn import Backbone, FastInputGradConv2d, output_shape

MIN_SIDE = 22  # 22 -> conv 9 -> 14 -> pool -> 7 -> conv 7 -> 1


@register_backbone("mnist")
def mnist_backbone(spec: DataSpec) -> Backbone:
    """The two-stage MNIST CNN for a ``C x H x W`` input with ``spec.num_classes`` outputs."""
    c, h, w = spec.input_shape
    if min(h, w) < MIN_SIDE:
        raise StnlabError(f"{spec.name}: {h} x {w} images are too small for the MNIST CNN (it needs at least "
                          f"{MIN_SIDE} x {MIN_SIDE}); enlarge them with --set image_size=28")
    stages = [
        nn.Sequential(FastInputGradConv2d(c, 64, 9), nn.MaxPool2d(2), nn.ReLU()),
        nn.Sequential(nn.Conv2d(64, 64, 7), nn.MaxPool2d(2), nn.ReLU()),
    ]
    (features,) = output_shape(nn.Sequential(*stages, nn.Flatten()), spec.input_shape)
    return Backbone(stages, nn.Sequential(nn.Flatten(), nn.Linear(features, spec.num_classes)))
