"""The spatial transformer layer: loc-net(s) + transform family + warp, optionally iterative."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from stnlab.geometry import family_matrix, family_size, identity, warp
from stnlab.nn.localization import LocalizationNet


class SpatialTransformer(nn.Module):
    """Predict a transform from the input, then resample the input with it.

    Iterative alignment (``iterations > 1`` or several loc-nets): with running matrix ``M`` (identity at
    first), iteration ``i`` feeds ``warp(x, M)`` to loc-net ``i mod len(loc_nets)``, which predicts
    ``delta``; then ``M <- M @ delta`` (:func:`stnlab.geometry.compose` order: first ``M``, then ``delta``
    on the already-warped image). The output is always ``warp(x, M)`` of the *original* ``x`` — a
    resampled image is never resampled again.

    ``lr_multiplier`` is read by :func:`stnlab.nn.parameter_groups`: the optimizer trains this ST's own
    parameters at ``lr * lr_multiplier`` (no gradient hooks).
    """

    def __init__(
        self,
        loc_nets: LocalizationNet | Sequence[LocalizationNet],
        family: str = "affine",
        iterations: int | None = None,
        out_size: tuple[int, int] | None = None,
        padding_mode: str = "zeros",
        lr_multiplier: float = 1.0,
    ) -> None:
        super().__init__()
        nets = [loc_nets] if isinstance(loc_nets, LocalizationNet) else list(loc_nets)
        for net in nets:
            if net.out.out_features != family_size(family):
                raise ValueError(f"loc-net outputs {net.out.out_features} parameters, {family!r} needs "
                                 f"{family_size(family)}")
        self.loc_nets = nn.ModuleList(nets)
        self.family = family
        self.iterations = iterations if iterations is not None else len(nets)
        if self.iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {self.iterations}")
        self.out_size = out_size
        self.padding_mode = padding_mode
        self.lr_multiplier = lr_multiplier
        self.projective = family == "projective"

    def predict(self, x: Tensor) -> Tensor:
        """The composed matrix ``B x 3 x 3`` (output -> input coordinates) for input ``x``."""
        m = identity(x.shape[0], dtype=torch.promote_types(x.dtype, torch.float32), device=x.device)
        for i in range(self.iterations):
            net = self.loc_nets[i % len(self.loc_nets)]
            source = x if i == 0 else warp(x, m, padding_mode=self.padding_mode, projective=self.projective)
            params = net(source).to(m.dtype)
            with torch.autocast(x.device.type, enabled=False):  # geometry in fp32 under autocast
                m = m @ family_matrix(self.family, params)
        return m

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(warp(x, M), M)``."""
        m = self.predict(x)
        return warp(x, m, out_size=self.out_size, padding_mode=self.padding_mode, projective=self.projective), m
