"""Channel actions for the alignment residual: what a transform of the input does to a layer's *channels*.

The theorem concerns purely spatial transforms ``T_g`` of feature maps. A network whose channels transform
among themselves under the input transform (a group CNN's regular fields, the "W"/"M" pair) can be aligned
by ``T_g`` together with the matching channel action. :func:`stnlab.analysis.alignment_residual` takes one
as ``channel_action``: a callable ``(maps, out_to_in) -> maps`` that receives Γ_k(T_h f) (``B x C x H x W``)
with the input transforms' sampling matrices (``B x 3 x 3``) and returns the maps with the *inverse* channel
action applied; the spatial alignment is then optimised as before. Its ``label`` names it in results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor

from stnlab.errors import StnlabError
from stnlab.geometry.orientation import orientation_shift, rotation_angle


@dataclass(frozen=True)
class RegularFieldAction:
    """Undo the orientation shift a rotation of the input causes in regular C_N fields.

    A rotation of the input by ``alpha`` shifts the orientation axis of every field by ``alpha N / 360``
    channels (:mod:`stnlab.geometry.orientation`); this shifts it back by the same amount (a roll for
    multiples of ``360 / N`` degrees, trigonometric interpolation in between). Applied to maps that are not
    regular fields (a plain CNN's channels, grouped ``N`` at a time) it is just some fixed channel mixing.
    """

    group_order: int

    @property
    def label(self) -> str:
        """``regular:N``, as ``--channel-action`` spells it."""
        return f"regular:{self.group_order}"

    def __call__(self, maps: Tensor, out_to_in: Tensor) -> Tensor:
        """``maps`` (``B x F N x H x W``) of images transformed by ``out_to_in`` (``B x 3 x 3``), shifted back."""
        shift = -rotation_angle(out_to_in) * (self.group_order / (2 * math.pi))  # B, orientation channels
        return orientation_shift(maps, shift.to(maps.dtype), self.group_order)


def parse_channel_action(text: str | None) -> RegularFieldAction | None:
    """``none`` (or None) -> no action; ``regular:N`` -> :class:`RegularFieldAction` of order ``N``."""
    if text is None or text == "none":
        return None
    kind, _, order = text.partition(":")
    if kind != "regular" or not order.isdigit() or int(order) < 2:
        raise StnlabError(f"bad channel action {text!r}; use none or regular:N with N >= 2 (e.g. regular:8)")
    return RegularFieldAction(int(order))
