"""Localization networks: a trunk (any feature extractor) + a head whose last linear layer starts at zero."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def output_shape(module: nn.Module, in_shape: Sequence[int]) -> tuple[int, ...]:
    """Shape (without batch) of ``module``'s output for one input of shape ``in_shape``, found by a dry run."""
    was_training = module.training
    module.eval()
    with torch.no_grad():
        out = module(torch.zeros(1, *in_shape))
    module.train(was_training)
    return tuple(out.shape[1:])


class LocalizationNet(nn.Module):
    """``trunk -> hidden -> linear(n_params)``; the last linear layer is zero-initialised.

    ``trunk`` maps the loc-net's input to features (``nn.Identity()`` for none; for STN-DL/SL it holds the
    copied or shared backbone stages), ``hidden`` maps those to a flat vector (convs, flatten, linears),
    and the final layer outputs the raw transform parameters. With zero weights *and* bias the output is
    exactly zero for any finite input, so the transform family returns exactly the identity at start.
    """

    def __init__(self, trunk: nn.Module, hidden: nn.Module, in_shape: Sequence[int], n_params: int) -> None:
        super().__init__()
        self.trunk = trunk
        self.hidden = hidden
        (features,) = output_shape(nn.Sequential(trunk, hidden), in_shape)
        self.out = nn.Linear(features, n_params)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Raw transform parameters ``B x n_params``."""
        return self.out(self.hidden(self.trunk(x)))
