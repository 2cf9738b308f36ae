"""The plankton CNN of the KTH paper (PlanktonSet 1.0, 121 classes, 1 x 95 x 95 input).

10 conv layers 3x3, padding 1, widths 32, 32, 64, 64, 128, 128, 128, 256, 256, 256, each followed by
LeakyReLU(1/3); max-pool 3x3 stride 2 after convs 2, 4, 7 and 10 (sides 95 -> 47 -> 23 -> 11 -> 5); then
dropout 0.5 -> linear 512 -> LeakyReLU -> dropout -> linear 512 -> LeakyReLU -> dropout -> linear 121.
**Stages**: one per conv layer, so X = 0..10 counts conv layers.

**Initialisation** (the papers do not state it; the authors' code used PyTorch's default): He-normal for
the LeakyReLU(1/3) slope, zero biases, in every conv and linear layer (also when an STN-DLX trunk copy is
re-initialised). PyTorch's default (uniform, variance 1/(3 fan_in)) shrinks the signal's variance by
~0.19 per layer here: on 32 validation images the stage-10 output std falls from 0.10 to 0.009 and the
logits vary across images by 2e-6, so the network starts with no signal and, in a few epochs of SGD or
Adam, learns only the class prior (93.5 % validation error after one epoch in both). With He init the
stage-10 std is 0.57 and the logits vary by 0.37.
"""

from __future__ import annotations

from torch import nn

from stnlab.data import DataSpec
from stnlab.models.registry import register_backbone
from stnlab.nn import Backbone, HeConv2d, HeLinear

WIDTHS = (32, 32, 64, 64, 128, 128, 128, 256, 256, 256)
POOL_AFTER = (2, 4, 7, 10)
SLOPE = 1 / 3


@register_backbone("plankton")
def plankton_backbone(spec: DataSpec) -> Backbone:
    """The 10-conv plankton network."""
    stages, c = [], spec.in_channels
    for i, width in enumerate(WIDTHS, start=1):
        layers: list[nn.Module] = [HeConv2d(c, width, 3, padding=1, negative_slope=SLOPE), nn.LeakyReLU(SLOPE)]
        if i in POOL_AFTER:
            layers.append(nn.MaxPool2d(3, stride=2))
        stages.append(nn.Sequential(*layers))
        c = width
    head = nn.Sequential(
        nn.Flatten(), nn.Dropout(0.5), HeLinear(256 * 5 * 5, 512, negative_slope=SLOPE), nn.LeakyReLU(SLOPE),
        nn.Dropout(0.5), HeLinear(512, 512, negative_slope=SLOPE), nn.LeakyReLU(SLOPE),
        nn.Dropout(0.5), HeLinear(512, spec.num_classes, negative_slope=SLOPE),
    )
    return Backbone(stages, head)
