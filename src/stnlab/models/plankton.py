"""The plankton CNN of the KTH paper (PlanktonSet 1.0, 121 classes, 1 x 95 x 95 input).

10 conv layers 3x3, padding 1, widths 32, 32, 64, 64, 128, 128, 128, 256, 256, 256, each followed by
LeakyReLU(1/3); max-pool 3x3 stride 2 after convs 2, 4, 7 and 10 (sides 95 -> 47 -> 23 -> 11 -> 5); then
dropout 0.5 -> linear 512 -> LeakyReLU -> dropout -> linear 512 -> LeakyReLU -> dropout -> linear 121.
**Stages**: one per conv layer, so X = 0..10 counts conv layers.
"""

from __future__ import annotations

from torch import nn

from stnlab.data import DataSpec
from stnlab.models.registry import register_backbone
from stnlab.nn import Backbone

WIDTHS = (32, 32, 64, 64, 128, 128, 128, 256, 256, 256)
POOL_AFTER = (2, 4, 7, 10)


@register_backbone("plankton")
def plankton_backbone(spec: DataSpec) -> Backbone:
    """The 10-conv plankton network."""
    stages, c = [], spec.in_channels
    for i, width in enumerate(WIDTHS, start=1):
        layers: list[nn.Module] = [nn.Conv2d(c, width, 3, padding=1), nn.LeakyReLU(1 / 3)]
        if i in POOL_AFTER:
            layers.append(nn.MaxPool2d(3, stride=2))
        stages.append(nn.Sequential(*layers))
        c = width
    head = nn.Sequential(
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(256 * 5 * 5, 512), nn.LeakyReLU(1 / 3),
        nn.Dropout(0.5), nn.Linear(512, 512), nn.LeakyReLU(1 / 3), nn.Dropout(0.5), nn.Linear(512, spec.num_classes),
    )
    return Backbone(stages, head)
