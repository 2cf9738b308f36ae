"""Batched 3x3 homogeneous matrices: builders, composition, inversion and decomposition.

See :mod:`stnlab.geometry` for the convention. Every builder accepts Python numbers or tensors of
shape ``(B,)`` and returns ``B x 3 x 3`` (``B = 1`` for scalars); all operations are differentiable.
"""

from __future__ import annotations

import torch
from torch import Tensor

Scalar = float | Tensor


def _batch(*values: Scalar, dtype: torch.dtype | None = None) -> list[Tensor]:
    """Broadcast numbers/tensors to 1-D tensors of one common length, dtype and device."""
    tensors = [v for v in values if isinstance(v, Tensor)]
    ref_dtype = dtype or (tensors[0].dtype if tensors else torch.get_default_dtype())
    if not ref_dtype.is_floating_point:
        ref_dtype = torch.get_default_dtype()
    device = tensors[0].device if tensors else None
    out = [torch.as_tensor(v, dtype=ref_dtype, device=device).reshape(-1) for v in values]
    return list(torch.broadcast_tensors(*out))


def _from_rows(a: Tensor, b: Tensor, tx: Tensor, c: Tensor, d: Tensor, ty: Tensor) -> Tensor:
    """Stack 2x3 entries (each ``(B,)``) into ``B x 3 x 3`` affine matrices."""
    zero, one = torch.zeros_like(a), torch.ones_like(a)
    rows = [torch.stack([a, b, tx], -1), torch.stack([c, d, ty], -1), torch.stack([zero, zero, one], -1)]
    return torch.stack(rows, -2)  # B x 3 x 3


def identity(batch: int = 1, dtype: torch.dtype | None = None, device: torch.device | None = None) -> Tensor:
    """``batch`` identity matrices, ``B x 3 x 3``."""
    return torch.eye(3, dtype=dtype, device=device).expand(batch, 3, 3).clone()


def to_homogeneous(matrix: Tensor) -> Tensor:
    """Accept ``B x 2 x 3`` (``affine_grid`` form) or ``B x 3 x 3``; return ``B x 3 x 3``."""
    if matrix.dim() != 3 or matrix.shape[-1] != 3 or matrix.shape[-2] not in (2, 3):
        raise ValueError(f"expected a B x 2 x 3 or B x 3 x 3 matrix, got shape {tuple(matrix.shape)}")
    if matrix.shape[-2] == 3:
        return matrix
    last = torch.zeros_like(matrix[:, :1, :])
    last[..., 2] = 1
    return torch.cat([matrix, last], dim=-2)


def rotation_matrix(angle: Scalar) -> Tensor:
    """Rotation by ``angle`` radians (content turns counter-clockwise on screen when warped)."""
    (a,) = _batch(angle)
    c, s, z = torch.cos(a), torch.sin(a), torch.zeros_like(a)
    return _from_rows(c, -s, z, s, c, z)


def scale_matrix(sx: Scalar, sy: Scalar | None = None) -> Tensor:
    """Axis scaling of the *sampling* coordinates (``sx > 1`` samples wider, so content shrinks)."""
    sx, sy = _batch(sx, sx if sy is None else sy)
    z = torch.zeros_like(sx)
    return _from_rows(sx, z, z, z, sy, z)


def shear_matrix(shear: Scalar) -> Tensor:
    """Horizontal shear ``x' = x + shear * y``."""
    (k,) = _batch(shear)
    z, o = torch.zeros_like(k), torch.ones_like(k)
    return _from_rows(o, k, z, z, o, z)


def translation_matrix(tx: Scalar, ty: Scalar) -> Tensor:
    """Translation by ``(tx, ty)`` in normalised units (``2 / W`` per pixel)."""
    tx, ty = _batch(tx, ty)
    z, o = torch.zeros_like(tx), torch.ones_like(tx)
    return _from_rows(o, z, tx, z, o, ty)


def pixels_to_normalized(pixels: Scalar, size: int) -> Scalar:
    """Convert a length in pixels of a ``size``-pixel side into normalised units."""
    return pixels * (2.0 / size)


def affine_matrix(
    angle: Scalar = 0.0,
    scale: Scalar | tuple[Scalar, Scalar] = 1.0,
    translation: tuple[Scalar, Scalar] = (0.0, 0.0),
    shear: Scalar = 0.0,
) -> Tensor:
    """Build ``T(translation) @ R(angle) @ Sh(shear) @ S(scale)``; ``scale`` may be ``(sx, sy)``."""
    sx, sy = scale if isinstance(scale, tuple) else (scale, scale)
    angle, sx, sy, k, tx, ty = _batch(angle, sx, sy, shear, *translation)
    c, s = torch.cos(angle), torch.sin(angle)
    # R @ Sh @ S = [[c, -s], [s, c]] @ [[sx, k sy], [0, sy]]
    return _from_rows(c * sx, (c * k - s) * sy, tx, s * sx, (s * k + c) * sy, ty)


def compose(*matrices: Tensor) -> Tensor:
    """``compose(A, B, ...) = A @ B @ ...``: warping by ``A`` then by ``B`` equals one warp by the result."""
    if not matrices:
        raise ValueError("compose needs at least one matrix")
    out = to_homogeneous(matrices[0])
    for m in matrices[1:]:
        out = out @ to_homogeneous(m)
    return out


def invert(matrix: Tensor) -> Tensor:
    """Inverse of each matrix (affine or projective); ``compose(A, invert(A))`` is the identity."""
    return torch.linalg.inv(to_homogeneous(matrix))


def decompose(matrix: Tensor) -> dict[str, Tensor]:
    """Factor affine matrices as ``T @ R(angle) @ Sh(shear) @ S(sx, sy)`` (a QR factorisation).

    Returns a dict of ``(B,)`` tensors: ``angle`` (radians, in ``(-pi, pi]``), ``scale_x``, ``scale_y``,
    ``scale`` (``sqrt |det|``, the isotropic part), ``log_scale``, ``shear``, ``tx``, ``ty`` and ``det``.
    ``scale_x > 0`` always; a reflection (``det < 0``) shows as ``scale_y < 0``. The projective row is ignored.
    """
    m = to_homogeneous(matrix)
    a, b, c, d = m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1]
    angle = torch.atan2(c, a)
    sx = torch.sqrt(a * a + c * c)
    cos, sin = torch.cos(angle), torch.sin(angle)
    u01 = cos * b + sin * d  # R^T M = [[sx, u01], [0, u11]]
    u11 = -sin * b + cos * d
    det = a * d - b * c
    scale = det.abs().sqrt()
    return {
        "angle": angle,
        "scale_x": sx,
        "scale_y": u11,
        "scale": scale,
        "log_scale": torch.log(scale),
        "shear": u01 / u11,
        "tx": m[:, 0, 2],
        "ty": m[:, 1, 2],
        "det": det,
    }


