"""Conv and linear layers that start He-initialised (Kaiming normal, zero bias) for a (leaky) ReLU.

PyTorch's default init (uniform, weight variance ``1 / (3 fan_in)``) keeps only a third of the signal's
variance through a ReLU layer (He: ``2 / fan_in``); in the deep plain plankton network (10 convs + 3
linear layers) the logits at initialisation then vary across images by ~2e-6, so training starts with no
signal (measured; see :mod:`stnlab.models.plankton`). These layers override ``reset_parameters`` so a
re-initialised copy (an STN-DLX trunk) is He-initialised too. (The SVHN network shows the same ~2e-6 at
initialisation, but with He init it diverged at lr 0.01 on synthetic data and cannot be validated here
without SVHN, so it keeps PyTorch's default.)
"""

from __future__ import annotations

from typing import Any

from torch import nn


def he_init_(layer: nn.Conv2d | nn.Linear, negative_slope: float = 0.0) -> None:
    """He-normal weights for a following leaky ReLU of ``negative_slope`` (0: ReLU) and a zero bias."""
    nn.init.kaiming_normal_(layer.weight, a=negative_slope, nonlinearity="leaky_relu")
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


class HeConv2d(nn.Conv2d):
    """``nn.Conv2d`` that (re-)initialises He-normal for a leaky ReLU of ``negative_slope``."""

    def __init__(self, *args: Any, negative_slope: float = 0.0, **kwargs: Any) -> None:
        object.__setattr__(self, "negative_slope", negative_slope)  # read by reset_parameters in __init__
        super().__init__(*args, **kwargs)

    def reset_parameters(self) -> None:
        """He-normal weights, zero bias."""
        he_init_(self, self.negative_slope)


class HeLinear(nn.Linear):
    """``nn.Linear`` that (re-)initialises He-normal for a leaky ReLU of ``negative_slope``."""

    def __init__(self, *args: Any, negative_slope: float = 0.0, **kwargs: Any) -> None:
        object.__setattr__(self, "negative_slope", negative_slope)
        super().__init__(*args, **kwargs)

    def reset_parameters(self) -> None:
        """He-normal weights, zero bias."""
        he_init_(self, self.negative_slope)
