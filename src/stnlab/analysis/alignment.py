"""Alignment residual: can a spatial transform of layer-k feature maps undo an input transform?

For the first ``k`` stages Γ_k of a network, images ``f`` and an input transform ``T_h``, this finds the
spatial transform ``T_g`` (a warp of the feature maps) minimising the relative error

    r = || T_g Γ_k(T_h f) - Γ_k(f) || / || Γ_k(f) ||

over a centred disk, and reports three numbers per (depth, transform, image): ``none`` (``T_g`` = identity),
``inverse`` (the analytic inverse ``L_k^-1 A_h^-1 L_k``, i.e. ``T_h^-1`` at layer-k resolution, see
:mod:`stnlab.nn.layers`) and ``optimum`` (the best ``T_g`` found, never worse than either start).

Why a centred disk: near the border the two maps do not carry the same information — content moves out
of (or, zero-padded, into) the frame, the corners of a square leave it under rotation, and unpadded
convolutions see a cropped field. A disk is mapped onto itself by rotations about the centre, so the
comparison set is the disk of radius ``radius`` (input normalised units) *and* the set of points whose
counterpart in the transformed image also lies in that disk (for a scaling by 2 that halves the disk;
for a shift it is the intersection of two disks); points whose sampling position under the analytic
inverse leaves the map are dropped as well. The same set is used for all three numbers.

What discretisation can and cannot achieve: at depth 0 (the image itself) the optimum is only the
interpolation error of resampling twice (bilinear); whole-layer-pixel shifts are exact at every depth
(convolution and pooling commute with them), so their residual is float round-off. Everything else —
rotations, scalings — is limited by the network's filters (the theorem): only filters invariant to
``T_h`` allow alignment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from stnlab.analysis.lm_align import align_maps, apply_points
from stnlab.analysis.transforms import InputTransform, parse_transforms, stack_matrices
from stnlab.errors import StnlabError
from stnlab.geometry import FAMILIES, identity, invert, warp
from stnlab.nn.layers import LayerGeometry, feature_maps, layer_geometries, stages_of
from stnlab.options import options_of

CHUNK_ELEMENTS = 1 << 22  # pairs x channels x starts x points per optimisation chunk
MIN_POINTS = 9  # fewer comparison points per transform than this make a residual meaningless


@dataclass
class AlignmentResult:
    """Residuals ``(D, T, N)`` for depths x transforms x images; matrices are in layer-k coordinates."""

    depths: list[int]
    transforms: list[str]
    family: str
    radius: float
    steps: int
    none: Tensor
    inverse: Tensor
    optimum: Tensor
    matrices: Tensor  # D x T x N x 3 x 3, the optimal T_g on the layer-k map
    points: list[int] = field(default_factory=list)  # comparison points per depth (before per-T masks)
    channel_action: str | None = None  # the label of the channel action applied with T_g, if any

    def summary(self) -> list[dict]:
        """One row per (depth, transform): mean/std/max of each residual over the images."""
        rows = []
        for i, d in enumerate(self.depths):
            for j, t in enumerate(self.transforms):
                row: dict = {"depth": d, "transform": t}
                for name in ("none", "inverse", "optimum"):
                    v = getattr(self, name)[i, j]
                    row[name] = {"mean": float(v.mean()), "std": float(v.std(unbiased=False)), "max": float(v.max())}
                rows.append(row)
        return rows

    def to_dict(self) -> dict:
        """JSON-ready: settings and the :meth:`summary` rows."""
        return {
            "depths": self.depths,
            "transforms": self.transforms,
            "family": self.family,
            "radius": self.radius,
            "steps": self.steps,
            "num_images": int(self.none.shape[-1]),
            "points": self.points,
            **({"channel_action": self.channel_action} if self.channel_action else {}),
            "rows": self.summary(),
        }

    def table(self) -> str:
        """A plain-text table of mean residuals."""
        lines = [f"{'depth':>5}  {'transform':<14}{'none':>9}{'inverse':>9}{'optimum':>9}"]
        for r in self.summary():
            lines.append(
                f"{r['depth']:>5}  {r['transform']:<14}{r['none']['mean']:>9.4f}"
                f"{r['inverse']['mean']:>9.4f}{r['optimum']['mean']:>9.4f}"
            )
        return "\n".join(lines)


def _layer_points(geo: LayerGeometry, radius: float) -> tuple[Tensor, Tensor]:
    """Flat indices and normalised coordinates (``Q x 2``) of layer pixels whose input point is in the disk."""
    n = geo.map_size
    c = (2 * torch.arange(n, dtype=torch.float32) + 1) / n - 1  # pixel centres
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    q = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)  # Q x 2
    p = geo.a * q + geo.b  # input coordinates
    keep = (p.norm(dim=1) <= radius).nonzero().squeeze(1)
    return keep, q[keep]


def _weights(geo: LayerGeometry, q: Tensor, a_h_out_to_in: Tensor, start_out_to_in: Tensor, radius: float) -> Tensor:
    """``T x Q`` comparison weights: the transformed-image counterpart is in the disk and the
    analytic-inverse sampling position lies inside the map (between pixel centres)."""
    p = geo.a * q + geo.b  # Q x 2, input coordinates
    back = apply_points(invert(a_h_out_to_in), p)  # T x Q x 2: where the content at p sits in T_h f
    inside = apply_points(start_out_to_in, q).abs().amax(dim=-1) <= 1 - 1 / geo.map_size + 1e-6
    return ((back.norm(dim=-1) <= radius + 1e-6) & inside).float()


@dataclass(frozen=True)
class AlignOptions:
    """How :func:`alignment_residual` aligns: at ``depths`` (default: every depth whose map has at least
    :data:`MIN_POINTS` comparison points), with ``T_g`` in ``family`` around each start (identity and analytic
    inverse), on the disk of ``radius`` (input normalised units), with ``steps`` Levenberg-Marquardt steps;
    ``channel_permutation`` compares channel ``c`` of Γ_k(f) with channel ``perm[c]`` of the warped maps (for a
    network whose channels swap under ``T_h``); ``channel_action(maps, out_to_in)`` is applied to Γ_k(T_h f)
    with the input transforms' matrices before the spatial alignment, e.g. the orientation shift of regular
    C_N fields (:mod:`stnlab.analysis.channel_action`), so that every residual, ``none`` included, measures
    "channel action + T_g"; ``progress`` shows a bar per depth."""

    depths: Sequence[int] | None = None
    family: str = "affine"
    radius: float = 0.8
    steps: int = 10
    channel_permutation: Tensor | None = None
    channel_action: Callable[[Tensor, Tensor], Tensor] | None = None
    progress: bool = False


def alignment_residual(net: nn.Module | Sequence[nn.Module], images: Tensor,
                       transforms: Sequence[str | InputTransform], options: AlignOptions | None = None,
                       **keywords: Any) -> AlignmentResult:
    """Residual of aligning Γ_k(T_h f) to Γ_k(f) by a spatial transform, per depth, transform and image.

    ``net``: an stnlab model (its CNN backbone's stages; STs are not part of Γ_k), an ``nn.Sequential`` or
    a list of stage modules. ``images``: ``N x C x H x W`` (square, content well inside the frame).
    ``transforms``: e.g. ``["rot:45", "scale:2", "trans:4"]`` (see :mod:`stnlab.analysis.transforms`).
    ``options`` / ``keywords``: :class:`AlignOptions`. Deterministic: no randomness is involved.
    """
    o = options_of(AlignOptions, options, keywords, "alignment_residual")
    family, radius, steps = o.family, o.radius, o.steps
    _check_settings(family, images, radius, steps)
    stages = stages_of(net)
    tfs = parse_transforms(transforms)
    images = images.float()
    geos = layer_geometries(stages, images.shape[1:])
    a_h = stack_matrices(tfs, images.shape[-1])  # T x 3 x 3, out_to_in: T_h f = warp(f, a_h)
    depths = _usable_depths(geos, a_h, radius) if o.depths is None else list(o.depths)
    for d in depths:
        if not 0 <= d < len(geos):
            raise StnlabError(f"depth {d} out of range; this network has depths 0..{len(geos) - 1}")
    n, t = images.shape[0], len(tfs)
    moved_in = warp(images.repeat(t, 1, 1, 1), a_h.repeat_interleave(n, dim=0))  # (T N) x C x H x W
    feats = feature_maps(stages, images, depths)
    moved_feats = feature_maps(stages, moved_in, depths)
    per_depth = []
    for d in depths:
        moved = moved_feats[d] if o.channel_permutation is None else moved_feats[d][:, o.channel_permutation]
        if o.channel_action is not None:
            moved = o.channel_action(moved, a_h.repeat_interleave(n, dim=0))  # (T N) x C x H x W
        per_depth.append(_align_depth(geos[d], feats[d], moved, a_h, tfs, o))
    none, inverse, optimum, matrices, points = zip(*per_depth)
    return AlignmentResult(depths, [tf.label for tf in tfs], family, radius, steps, torch.stack(none),
                           torch.stack(inverse), torch.stack(optimum), torch.stack(matrices), points=list(points),
                           channel_action=getattr(o.channel_action, "label", None if o.channel_action is None else
                                                  repr(o.channel_action)))


def _check_settings(family: str, images: Tensor, radius: float, steps: int) -> None:
    """One-line errors for the settings of :func:`alignment_residual`."""
    if family not in FAMILIES:
        raise StnlabError(f"unknown alignment family {family!r}; valid: {', '.join(FAMILIES)}")
    if images.dim() != 4:
        raise StnlabError(f"images must be N x C x H x W, got shape {tuple(images.shape)}")
    if not 0 < radius <= 1:
        raise StnlabError(f"radius must be in (0, 1] (normalised units), got {radius}")
    if steps < 0:
        raise StnlabError(f"steps must be >= 0, got {steps}")


def _align_depth(geo: LayerGeometry, feats: Tensor, moved: Tensor, a_h: Tensor, tfs: list[InputTransform],
                 o: AlignOptions) -> tuple[Tensor, Tensor, Tensor, Tensor, int]:
    """Residuals ``none``, ``inverse``, ``optimum`` (``T x N`` each), the optimal matrices ``T x N x 3 x 3``
    and the number of comparison points at one depth; ``feats`` ``N x C x H x W`` are Γ_k(f), ``moved``
    ``(T N) x C x H x W`` are Γ_k(T_h f)."""
    radius, family, steps, progress = o.radius, o.family, o.steps, o.progress
    n, t = feats.shape[0], len(tfs)
    idx, q = _layer_points(geo, radius)
    undo_out_to_in = geo.conjugate(invert(a_h))  # T x 3 x 3, T_h^-1 at layer-k resolution
    w = _weights(geo, q, a_h, undo_out_to_in, radius)  # T x Q
    short = [tfs[j].label for j in range(t) if w[j].sum() < MIN_POINTS]
    if short:
        raise StnlabError(
            f"depth {geo.depth} ({geo.map_size}x{geo.map_size} map) has fewer than {MIN_POINTS} "
            f"comparison points for {', '.join(short)}; use larger images, a larger --radius or smaller depths"
        )
    target = feats.flatten(2)[:, :, idx].repeat(t, 1, 1)  # (T N) x C x Q
    starts = torch.stack([identity(t), undo_out_to_in], dim=1).repeat_interleave(n, dim=0)  # (T N) x 2 x 3 x 3
    weights = w.repeat_interleave(n, dim=0)  # (T N) x Q
    # pairs are optimised independently, so chunks give the same result with less memory
    chunk = max(1, CHUNK_ELEMENTS // (2 * moved.shape[1] * max(q.shape[0], moved[0, 0].numel())))
    chunks = tqdm(range(0, n * t, chunk), desc=f"alignment depth {geo.depth}", unit="chunk", disable=not progress)
    parts = [
        align_maps(target[i : i + chunk], moved[i : i + chunk], starts[i : i + chunk], q, weights[i : i + chunk],
                   family, steps)  # fmt: skip
        for i in chunks
    ]
    first, best, best_m = (torch.cat(x) for x in zip(*parts))
    return first[:, 0].view(t, n), first[:, 1].view(t, n), best.view(t, n), best_m.view(t, n, 3, 3), int(idx.numel())


def _usable_depths(geos: list[LayerGeometry], a_h: Tensor, radius: float) -> list[int]:
    """Depths whose maps give every transform at least :data:`MIN_POINTS` comparison points."""
    usable = []
    for geo in geos:
        _, q = _layer_points(geo, radius)
        if q.shape[0] and _weights(geo, q, a_h, geo.conjugate(invert(a_h)), radius).sum(1).min() >= MIN_POINTS:
            usable.append(geo.depth)
    if not usable:
        raise StnlabError("no depth has enough comparison points; use larger images or a larger radius")
    return usable
