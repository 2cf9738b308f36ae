"""The group-aware spatial transformer: warps regular C_N feature maps and shifts their orientation axes.

A :class:`~stnlab.nn.SpatialTransformer` in every respect (loc-nets, transform family, iterations,
``lr_multiplier``, the matrices it returns) except its output: ``group_warp(x, M, N)``
(:func:`stnlab.geometry.orientation.group_warp`) instead of ``warp(x, M)``, so that on the maps of a
C_N-equivariant backbone it applies the same action a rotation of the input would have caused, and a
loc-net can align them. Iterations resample the maps spatially only for the next loc-net's input (as the
plain ST does); the output is always one group warp of the original maps with the final matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from stnlab.geometry.orientation import group_warp
from stnlab.nn.localization import LocalizationNet
from stnlab.nn.transformer import SpatialTransformer


class GroupSpatialTransformer(SpatialTransformer):
    """An ST for feature maps of regular C_N fields (``B x F N x H x W``, field-major channels)."""

    def __init__(self, loc_nets: LocalizationNet | Sequence[LocalizationNet], group_order: int,
                 family: str = "affine", **options: Any) -> None:
        """``options``: :class:`~stnlab.nn.SpatialTransformer`'s (``iterations``, ``out_size``, ``padding_mode``,
        ``lr_multiplier``)."""
        if family == "projective":
            raise ValueError("a group-aware ST needs an affine family: a perspective warp has no rotation "
                             "angle to shift the orientation channels by")
        if group_order < 2:
            raise ValueError(f"group_order must be >= 2, got {group_order}")
        super().__init__(loc_nets, family=family, **options)
        self.group_order = group_order

    @classmethod
    def from_spatial(cls, st: SpatialTransformer, group_order: int) -> GroupSpatialTransformer:
        """The group-aware version of ``st``: the very same loc-nets and settings."""
        return cls(list(st.loc_nets), group_order, family=st.family, iterations=st.iterations,
                   out_size=st.out_size, padding_mode=st.padding_mode, lr_multiplier=st.lr_multiplier)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(group_warp(x, M, N), M)``."""
        if x.shape[1] % self.group_order:
            raise ValueError(f"{x.shape[1]} channels are not whole regular fields of C_{self.group_order}")
        m = self.predict(x)
        return group_warp(x, m, self.group_order, out_size=self.out_size, padding_mode=self.padding_mode), m

    def extra_repr(self) -> str:
        """The group order and family, in the module's printout."""
        return f"group_order={self.group_order}, family={self.family!r}"
