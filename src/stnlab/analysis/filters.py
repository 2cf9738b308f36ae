"""Filter-level checks of the single-layer theorem, and the two-channel ("W"/"M") example.

Theorem (Jansson et al.): for one convolutional layer Λ_λ, ``T_g Λ_λ T_h = Λ_λ`` implies ``T_g = T_h^-1``
and ``λ = det(T_h) T_h^-1 λ`` — the filter itself must be invariant. :func:`filter_noninvariance`
measures ``||λ - det(T_h) T_h^-1 λ|| / ||λ||`` on the pixel grid and :func:`filter_check` sets it beside
the alignment residual of a one-layer network built from the same filters, for three kinds of filter:

* ``random``: Gaussian noise in a disk — invariant to nothing;
* ``c4``: random filters averaged over the four 90-degree rotations — invariant to 90 degrees exactly
  (on the grid), not to 45;
* ``radial``: a random smooth radial profile — invariant to every rotation up to the discretisation of
  the disk (a few percent at 9x9) — but, like every non-constant filter, not to a scaling.

Filters are masked to a disk of diameter ``size`` so that rotations do not move support off the grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from stnlab.analysis.alignment import alignment_residual
from stnlab.analysis.transforms import InputTransform, parse_transforms
from stnlab.errors import StnlabError
from stnlab.geometry import invert, warp

FILTER_KINDS = ("random", "c4", "radial")

# A 9x9 "W"; rotated by 180 degrees it reads "M".
_W = [
    "X.......X",
    "X.......X",
    "X.......X",
    "X...X...X",
    "X...X...X",
    ".X.X.X.X.",
    ".X.X.X.X.",
    "..X...X..",
    "..X...X..",
]


def _disk(size: int) -> Tensor:
    """``size x size`` mask of pixel centres within ``size / 2`` of the centre."""
    c = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    r = (c[None] ** 2 + c[:, None] ** 2).sqrt()
    return (r <= size / 2).float()


def random_filters(n: int, size: int = 9, seed: int = 0) -> Tensor:
    """``n x size x size`` Gaussian-noise filters masked to a disk (deterministic for ``seed``)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, size, size, generator=g) * _disk(size)


def symmetrize_c4(filters: Tensor) -> Tensor:
    """Average each filter over its four 90-degree rotations (exactly invariant to them)."""
    return torch.stack([torch.rot90(filters, k, dims=(-2, -1)) for k in range(4)]).mean(0)


def radial_filters(n: int, size: int = 9, seed: int = 0, rings: int = 3) -> Tensor:
    """``n`` isotropic filters: a random sum of Gaussian rings ``sum_j a_j exp(-(r - c_j)^2 / 2)``."""
    g = torch.Generator().manual_seed(seed)
    amp = torch.randn(n, rings, generator=g)
    centre = torch.rand(n, rings, generator=g) * (size / 2)
    c = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    r = (c[None] ** 2 + c[:, None] ** 2).sqrt()  # size x size
    prof = amp[:, :, None, None] * torch.exp(-0.5 * (r - centre[:, :, None, None]) ** 2)  # n x rings x s x s
    return prof.sum(1) * _disk(size)


def make_filters(kind: str, n: int, size: int = 9, seed: int = 0) -> Tensor:
    """Filters of ``kind`` in :data:`FILTER_KINDS`."""
    if kind == "random":
        return random_filters(n, size, seed)
    if kind == "c4":
        return symmetrize_c4(random_filters(n, size, seed))
    if kind == "radial":
        return radial_filters(n, size, seed)
    raise StnlabError(f"unknown filter kind {kind!r}; valid: {', '.join(FILTER_KINDS)}")


def filter_noninvariance(filters: Tensor, transform: str | InputTransform) -> Tensor:
    """``||λ - det(T_h) T_h^-1 λ|| / ||λ||`` per filter (``M x k x k`` -> ``(M,)``).

    With the warp convention ``T_h f = warp(f, A_h)``: ``T_h^-1 λ = warp(λ, A_h^-1)``, ``det T_h = 1/det A_h``.
    Discretisation: bilinear resampling of a ``k x k`` grid; exact for 90-degree multiples.
    """
    (tf,) = parse_transforms([transform])
    if not tf.is_linear():
        raise StnlabError(f"filter check needs a linear transform (rotation or scale), got {tf.label}")
    a_h_out_to_in = tf.matrix(filters.shape[-1])
    a_h_in_to_out = invert(a_h_out_to_in)
    m = filters.shape[0]
    moved = warp(filters[:, None], a_h_in_to_out.expand(m, 3, 3))[:, 0] / torch.linalg.det(a_h_out_to_in)  # M x k x k
    return (filters - moved).flatten(1).norm(dim=1) / filters.flatten(1).norm(dim=1).clamp_min(1e-12)


def conv_layer(filters: Tensor, relu: bool = False) -> nn.Sequential:
    """A one-layer network (unpadded, no bias) whose output channels are the given ``M x k x k`` filters."""
    conv = nn.Conv2d(1, filters.shape[0], filters.shape[-1], bias=False)
    with torch.no_grad():
        conv.weight.copy_(filters[:, None])
    return nn.Sequential(conv, nn.ReLU()) if relu else nn.Sequential(conv)


def filter_check(
    images: Tensor,
    transforms: Sequence[str] = ("rot:45", "rot:90", "scale:2"),
    kinds: Sequence[str] = FILTER_KINDS,
    *,
    n_filters: int = 16,
    size: int = 9,
    seed: int = 0,
    radius: float = 0.8,
    steps: int = 10,
) -> list[dict]:
    """Rows ``{filters, transform, filter_noninvariance, none, inverse, optimum}`` (means over filters/images).

    For every filter kind, a one-layer linear network of ``n_filters`` filters is aligned (depth 1, affine
    family) and its residual set beside the filters' own non-invariance.
    """
    rows = []
    for kind in kinds:
        filters = make_filters(kind, n_filters, size, seed)
        res = alignment_residual([conv_layer(filters)], images, transforms, depths=[1], radius=radius, steps=steps)
        for j, label in enumerate(res.transforms):
            rows.append(
                {
                    "filters": kind,
                    "transform": label,
                    "filter_noninvariance": float(filter_noninvariance(filters, transforms[j]).mean()),
                    **{k: float(getattr(res, k)[0, j].mean()) for k in ("none", "inverse", "optimum")},
                }
            )
    return rows


def w_filter() -> Tensor:
    """The 9x9 "W" glyph (zero mean); ``torch.rot90(w, 2)`` is the "M"."""
    w = torch.tensor([[1.0 if ch == "X" else 0.0 for ch in row] for row in _W])
    return w - w.mean()


def two_channel_example(images: Tensor, *, radius: float = 0.8, steps: int = 10) -> dict:
    """The "W"/"M" network: channel 0 detects W, channel 1 detects M (= W rotated 180 degrees).

    A 180-degree rotation of the input swaps what the channels see, so no spatial transform aligns the
    maps (``spatial_only`` stays large) while the same transform plus swapping the channels does
    (``with_permutation`` ~ 0, exact on the grid). Returns both rows (means over images).
    """
    w = w_filter()
    net = [conv_layer(torch.stack([w, torch.rot90(w, 2)]), relu=True)]
    out = {}
    for name, perm in (("spatial_only", None), ("with_permutation", torch.tensor([1, 0]))):
        res = alignment_residual(
            net, images, ["rot:180"], depths=[1], radius=radius, steps=steps, channel_permutation=perm
        )
        out[name] = {k: float(getattr(res, k)[0, 0].mean()) for k in ("none", "inverse", "optimum")}
    return out
