"""The SVHN multi-digit CNN (Goodfellow et al., as used by Jaderberg et al. and the KTH paper).

8 conv layers 5x5, padding 2, widths 48, 64, 128, 160, 192, 192, 192, 192, each followed by ReLU; max-pool 2
after convs 1, 3, 5, 7; dropout 0.5 after every conv but the first. Then 3 x (linear 3072, ReLU, dropout 0.5)
and 5 linear heads of 11 classes (10 digits + "no digit"): logits are ``B x 5 x 11``.
**Stages**: one per conv layer (with its ReLU, pool and dropout), so X = 0..8 counts conv layers.
Input 3 x 64 x 64; the last map is 192 x 4 x 4 = 3072 features.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from stnlab.data import DataSpec
from stnlab.models.registry import register_backbone
from stnlab.nn import Backbone

WIDTHS = (48, 64, 128, 160, 192, 192, 192, 192)


class MultiHead(nn.Module):
    """``heads`` independent linear classifiers on one feature vector; output ``B x heads x classes``."""

    def __init__(self, features: int, heads: int, classes: int) -> None:
        super().__init__()
        self.heads = nn.ModuleList(nn.Linear(features, classes) for _ in range(heads))

    def forward(self, x: Tensor) -> Tensor:
        """Stack the heads' logits."""
        return torch.stack([h(x) for h in self.heads], dim=1)  # B x heads x classes


@register_backbone("svhn")
def svhn_backbone(spec: DataSpec) -> Backbone:
    """The 8-conv SVHN network with 5 digit heads."""
    stages, c = [], spec.in_channels
    for i, width in enumerate(WIDTHS):
        layers: list[nn.Module] = [nn.Conv2d(c, width, 5, padding=2), nn.ReLU()]
        if i % 2 == 0:  # after convs 1, 3, 5, 7
            layers.append(nn.MaxPool2d(2))
        if i > 0:
            layers.append(nn.Dropout(0.5))
        stages.append(nn.Sequential(*layers))
        c = width
    head: list[nn.Module] = [nn.Flatten()]
    features = 192 * 4 * 4
    for _ in range(3):
        head += [nn.Linear(features, 3072), nn.ReLU(), nn.Dropout(0.5)]
        features = 3072
    head.append(MultiHead(features, spec.num_heads, spec.num_classes))
    return Backbone(stages, nn.Sequential(*head))
