"""Transform families: turn a loc-net's raw output ``B x n`` into ``B x 3 x 3`` matrices.

Every family gives exactly the identity for an all-zero output, so a zero-initialised last layer
starts every STN as the identity transform.

=============  ===  ==========================================================
family         n    parameters
=============  ===  ==========================================================
``affine``      6   ``I + [[p0, p1, p2], [p3, p4, p5]]`` (the 2x3 part)
``similarity``  4   angle (rad), log-scale, tx, ty: ``T R(angle) S(exp(log_scale))``
``rotation``    1   angle (rad)
``scale``       1   log-scale (isotropic)
``translation`` 2   tx, ty
``projective``  8   ``I + [[p0, p1, p2], [p3, p4, p5], [p6, p7, 0]]``
=============  ===  ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from stnlab.geometry.matrices import _from_rows


def _affine(p: Tensor) -> Tensor:
    return _from_rows(1 + p[:, 0], p[:, 1], p[:, 2], p[:, 3], 1 + p[:, 4], p[:, 5])


def _similarity(p: Tensor) -> Tensor:
    s = torch.exp(p[:, 1])
    c, si = torch.cos(p[:, 0]) * s, torch.sin(p[:, 0]) * s
    return _from_rows(c, -si, p[:, 2], si, c, p[:, 3])


def _rotation(p: Tensor) -> Tensor:
    c, s, z = torch.cos(p[:, 0]), torch.sin(p[:, 0]), torch.zeros_like(p[:, 0])
    return _from_rows(c, -s, z, s, c, z)


def _scale(p: Tensor) -> Tensor:
    s, z = torch.exp(p[:, 0]), torch.zeros_like(p[:, 0])
    return _from_rows(s, z, z, z, s, z)


def _translation(p: Tensor) -> Tensor:
    o, z = torch.ones_like(p[:, 0]), torch.zeros_like(p[:, 0])
    return _from_rows(o, z, p[:, 0], z, o, p[:, 1])


def _projective(p: Tensor) -> Tensor:
    full = torch.cat([p, torch.zeros_like(p[:, :1])], dim=1).reshape(-1, 3, 3)  # B x 3 x 3
    return torch.eye(3, dtype=p.dtype, device=p.device) + full


FAMILIES: dict[str, tuple[int, Callable[[Tensor], Tensor]]] = {
    "affine": (6, _affine),
    "similarity": (4, _similarity),
    "rotation": (1, _rotation),
    "scale": (1, _scale),
    "translation": (2, _translation),
    "projective": (8, _projective),
}


def _lookup(family: str) -> tuple[int, Callable[[Tensor], Tensor]]:
    try:
        return FAMILIES[family]
    except KeyError:
        raise ValueError(f"unknown transform family {family!r}; valid: {', '.join(FAMILIES)}") from None


def family_size(family: str) -> int:
    """Number of raw parameters the family ``family`` takes."""
    return _lookup(family)[0]


def family_matrix(family: str, params: Tensor) -> Tensor:
    """Map raw parameters ``B x n`` of ``family`` to ``B x 3 x 3`` matrices (identity at zero)."""
    n, fn = _lookup(family)
    if params.dim() != 2 or params.shape[1] != n:
        raise ValueError(f"family {family!r} takes B x {n} parameters, got shape {tuple(params.shape)}")
    return fn(params)
