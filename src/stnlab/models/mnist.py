"""The authors' MNIST CNN (used for plain MNIST and the R, T and S protocols).

conv 9x9, 64 -> maxpool 2 -> ReLU -> conv 7x7, 64 -> maxpool 2 -> ReLU -> linear to 10; no padding.
**Stages** (what depth X counts): stage 1 = conv 9x9 + pool + ReLU, stage 2 = conv 7x7 + pool + ReLU; so
STN-C1 transforms the 64-channel maps after the first conv block. Map sides per stage: 28 -> 10 -> 2,
60 -> 26 -> 10, 112 -> 52 -> 23.
"""

from __future__ import annotations

from torch import nn

from stnlab.models.registry import DATASETS, register_backbone
from stnlab.nn import Backbone, FastInputGradConv2d, output_shape

SIZES = {"mnist": 28, "mnist-rot": 28, "mnist-trans": 60, "mnist-scale": 112}


@register_backbone(*SIZES, in_channels=1, image_size=SIZES, num_classes=10, loc_net="mnist")
def mnist_backbone(dataset: str) -> Backbone:
    """The two-stage MNIST CNN for a 1 x S x S input (S from the data set)."""
    stages = [
        nn.Sequential(FastInputGradConv2d(1, 64, 9), nn.MaxPool2d(2), nn.ReLU()),
        nn.Sequential(nn.Conv2d(64, 64, 7), nn.MaxPool2d(2), nn.ReLU()),
    ]
    (features,) = output_shape(nn.Sequential(*stages, nn.Flatten()), DATASETS[dataset].input_shape)
    return Backbone(stages, nn.Sequential(nn.Flatten(), nn.Linear(features, 10)))
