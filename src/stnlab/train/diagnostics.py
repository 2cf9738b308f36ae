"""What the spatial transformers do during training: statistics of their transforms at each validation.

For every ST of the model and every validation sample, the ST's matrix ``M`` (output -> input
coordinates, :mod:`stnlab.geometry`) is factored by :func:`stnlab.geometry.decompose` into
``T(tx, ty) R(angle) Sh(shear) S(sx, sy)``. Per quantity the record holds ``mean``, ``std``,
``mean_abs``, ``p5`` and ``p95`` over the validation samples:

* ``angle_deg`` (degrees), ``log_scale`` (``log sqrt|det|``), ``log_scale_x``, ``log_scale_y``
  (``log |s|``), ``shear``, ``tx``, ``ty`` (normalised units: 1 = half the width), ``det``;
  These describe the *sampling* matrix: ``angle_deg`` > 0 turns the content counter-clockwise on
  screen, ``log_scale`` > 0 samples a larger region (zooms out), ``tx`` > 0 samples further right;
* ``outside``: the share of the ST's sampling grid (16 x 16 points) that falls outside ``[-1, 1]^2``,
  i.e. samples zero padding (a zoomed-out ST has a large share).

An ST on feature maps at depth X > 0 predicts its matrix in that layer's normalised coordinates, so
its statistics are in feature-map coordinates (``acts_on`` says where each ST acts). Angles and scales are
the same in input coordinates; translations are not: a layer-X map covers a cropped, strided grid of the
input (:mod:`stnlab.nn.layers`), and a shift of ``t`` in its normalised units is ``a t`` in the input's.
Such an ST's record therefore also holds ``layer_to_input`` (``a`` and ``b`` of ``L_X``) and, where the
data shifts, ``compensation_input``: the tx/ty fits of its matrix taken to input coordinates
(``L_X M L_X^-1``, as :func:`stnlab.analysis.compensation` measures), comparable with an input ST's
(exact centring on a 60 px MNIST-T canvas is -1 there, -1.15 in layer-1 units).

**Compensation** (protocols whose data source returns the applied transform: mnist-rot, mnist-scale,
mnist-trans): the least-squares slope and R^2 of the predicted parameter against the applied one, where
"applied" is the same parameter of the data's *sampling* matrix (the map from the shown image to the
upright digit). An ST that exactly undoes the data transform predicts the inverse of that matrix, so
its parameter is minus the applied one: **slope -1 is full compensation, 0 none** (the convention of
``stnlab analyze compensation``). Only parameters the protocol varies are reported.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from stnlab.errors import StnlabError
from stnlab.geometry import decompose
from stnlab.geometry.warp import sampling_grid
from stnlab.nn.layers import LayerGeometry, layer_geometries, stages_of
from stnlab.nn.model import st_depths
from stnlab.train.distributed import Dist, gather_objects

QUANTITIES = ("angle_deg", "log_scale", "log_scale_x", "log_scale_y", "shear", "tx", "ty", "det", "outside")
COMPENSATED = ("angle_deg", "log_scale", "tx", "ty")  # compared with the applied transform
SHIFTS = ("tx", "ty")  # the compensated parameters that change between layer and input coordinates
GRID_POINTS = 16
# "not moving": every one of these mean |value| below its bound (angle in degrees)
IDENTITY_BOUNDS = {"angle_deg": 1.0, "log_scale_x": 0.01, "log_scale_y": 0.01, "shear": 0.01, "tx": 0.01, "ty": 0.01}
COLLAPSE_LOG_SCALE = math.log(4.0)  # mean |log-scale| past this (zoom beyond 4x either way): collapsing
COLLAPSE_OUTSIDE = 0.5  # or more than half of the sampling grid outside the input


def st_places(model: nn.Module) -> list[str]:
    """Where each ST of ``model`` acts, in the order of ``model(x, return_transforms=True)``."""
    return ["input image" if depth == 0 else f"feature maps at depth {depth}" for depth in st_depths(model)]


def st_geometries(model: nn.Module, image_shape: tuple[int, int, int]) -> list[LayerGeometry | None]:
    """Per ST (order of :func:`st_places`): the geometry of the layer it acts on, for an ST on feature maps;
    None for an ST on the input image, or where the backbone's stages or its maps cannot be read (a custom
    backbone without ``stages``, non-square images)."""
    depths = st_depths(model)
    if not any(depths):
        return [None] * len(depths)
    try:
        geos = layer_geometries(stages_of(model), image_shape)
    except StnlabError:
        return [None] * len(depths)
    return [geos[k] if 0 < k < len(geos) else None for k in depths]


def transform_values(matrix: Tensor) -> Tensor:
    """Per-sample ``B x len(QUANTITIES)`` values of ``B x 3 x 3`` matrices (float32, same device)."""
    m = matrix.detach().float()
    p = decompose(m)
    grid = sampling_grid(m, (m.shape[0], 1, GRID_POINTS, GRID_POINTS))
    outside = (grid.abs() > 1).any(-1).float().mean((1, 2))
    cols = {"angle_deg": torch.rad2deg(p["angle"]), "log_scale": p["log_scale"], "log_scale_x": p["scale_x"].log(),
            "log_scale_y": p["scale_y"].abs().log(), "shear": p["shear"], "tx": p["tx"], "ty": p["ty"],
            "det": p["det"], "outside": outside}
    return torch.stack([cols[q] for q in QUANTITIES], 1)


def applied_values(matrix: Tensor) -> Tensor:
    """``B x len(COMPENSATED)`` parameters of the data's sampling matrices (what an ST should undo)."""
    values = transform_values(matrix)
    return values[:, [QUANTITIES.index(q) for q in COMPENSATED]]


class STCollector:
    """Collects :func:`transform_values` of every ST (and the applied transforms) over validation batches;
    for an ST with a layer geometry (:func:`st_geometries`), also the shifts of its matrix in input
    coordinates."""

    def __init__(self, places: list[str], geometries: list[LayerGeometry | None] | None = None) -> None:
        self.places = places
        self.geometries = geometries or [None] * len(places)
        self.values: list[list[Tensor]] = [[] for _ in places]
        self.input_values: list[list[Tensor]] = [[] for _ in places]
        self.applied: list[Tensor] = []

    def add(self, mats: list[Tensor], params: dict[str, Tensor] | None) -> None:
        """One validation batch: the ST matrices (model order) and the batch's params (or None)."""
        for store, in_store, geo, m in zip(self.values, self.input_values, self.geometries, mats):
            store.append(transform_values(m).cpu())
            if geo is not None:
                layer_to_input = geo.to_input(device=m.device)  # 1 x 3 x 3
                m_in = layer_to_input @ m.detach().float() @ torch.linalg.inv(layer_to_input)  # B x 3 x 3
                in_store.append(transform_values(m_in).cpu())
        if params is not None and "matrix" in params:
            self.applied.append(applied_values(params["matrix"]).cpu())

    def summary(self, d: Dist) -> list[dict[str, Any]]:
        """Per ST: where it acts, the statistics of each quantity, compensation; pooled over ranks."""
        out = []
        applied = _gathered(d, self.applied)
        for i, (place, store) in enumerate(zip(self.places, self.values)):
            values = _gathered(d, store)
            if values is None:
                continue
            entry: dict[str, Any] = {"index": i, "acts_on": place, "samples": int(values.shape[0])}
            entry.update({q: _stats(values[:, k]) for k, q in enumerate(QUANTITIES)})
            fits = applied is not None and len(applied) == len(values)
            fit = _compensation(values, applied) if fits else {}
            if fit:  # only where the data varies a parameter (not plankton/SVHN validation, plain MNIST)
                entry["compensation"] = fit
            if (geo := self.geometries[i]) is not None:
                entry["layer_to_input"] = {"a": _round(geo.a), "b": _round(geo.b)}
                in_values = _gathered(d, self.input_values[i])
                shifts = {q: f for q, f in _compensation(in_values, applied).items() if q in SHIFTS} if fits else {}
                if shifts:
                    entry["compensation_input"] = shifts
            entry["identity"] = all(entry[q]["mean_abs"] < b for q, b in IDENTITY_BOUNDS.items())
            entry["collapsing"] = (entry["log_scale"]["mean_abs"] > COLLAPSE_LOG_SCALE
                                   or entry["outside"]["mean"] > COLLAPSE_OUTSIDE)
            out.append(entry)
        return out


def _gathered(d: Dist, parts: list[Tensor]) -> Tensor | None:
    local = torch.cat(parts) if parts else None
    pieces = [p for p in gather_objects(d, local) if p is not None]
    return torch.cat(pieces).double() if pieces else None  # type: ignore[arg-type]


def _round(value: float) -> float:
    return float(f"{value:.6g}")  # six significant digits keep metrics.jsonl readable


def _stats(v: Tensor) -> dict[str, float]:
    q = torch.quantile(v, torch.tensor([0.05, 0.95], dtype=v.dtype)).tolist()
    stats = {"mean": v.mean(), "std": v.std(unbiased=False), "mean_abs": v.abs().mean(), "p5": q[0], "p95": q[1]}
    return {k: _round(float(x)) for k, x in stats.items()}


def _compensation(values: Tensor, applied: Tensor) -> dict[str, dict[str, float]]:
    """Slope and R^2 of each predicted parameter on the applied one (only those the data varies)."""
    out = {}
    for k, q in enumerate(COMPENSATED):
        x, y = applied[:, k], values[:, QUANTITIES.index(q)]
        xc, yc = x - x.mean(), y - y.mean()
        sxx, syy = float((xc * xc).sum()), float((yc * yc).sum())
        if sxx <= 1e-12 * len(x):
            continue
        sxy = float((xc * yc).sum())
        out[q] = {"slope": _round(sxy / sxx), "r2": _round(sxy * sxy / (sxx * syy) if syy > 0 else 0.0)}
    return out


def st_warnings(history: list[dict[str, Any]], record: dict[str, Any], after: int) -> list[dict[str, Any]]:
    """Warnings raised by ``record`` (appended after ``history``): an ST flagged ``identity`` (not moving)
    or ``collapsing`` for ``after`` consecutive validations, once per ST and condition in a run."""
    warned = {(w["st"], w["kind"]) for r in history for w in r.get("st_warnings", [])}
    out = []
    for st in record.get("st", []):
        for flag, kind in (("identity", "not moving"), ("collapsing", "collapsing")):
            if (st["index"], kind) in warned:
                continue
            recent = (history[-(after - 1):] if after > 1 else []) + [record]
            flags = [next((e.get(flag) for e in r.get("st", []) if e["index"] == st["index"]), False)
                     for r in recent]
            if len(flags) == after and all(flags):
                out.append({"st": st["index"], "kind": kind, "message": _message(st, kind, after)})
    return out


def describe(st: dict[str, Any]) -> str:
    """One line on what an ST did at a validation (from a record's ``st`` entry)."""
    fits = ", ".join(f"{q} slope {f['slope']:+.3f} (R^2 {f['r2']:.2f})" for q, f in st.get("compensation", {}).items())
    shifts = ", ".join(f"{q} {f['slope']:+.3f}" for q, f in st.get("compensation_input", {}).items())
    fits += f"; in input coordinates {shifts}" if shifts else ""
    angle = st["angle_deg"]
    return (f"ST {st['index']} ({st['acts_on']}): angle {angle['mean']:+.2f} +- {angle['std']:.2f} deg, "
            f"log-scale {st['log_scale']['mean']:+.3f} +- {st['log_scale']['std']:.3f}, "
            f"|t| {max(st['tx']['mean_abs'], st['ty']['mean_abs']):.3f}, outside {st['outside']['mean']:.0%}"
            + (f"; compensation: {fits}" if fits else ""))


def _message(st: dict[str, Any], kind: str, after: int) -> str:
    where = f"ST {st['index']} ({st['acts_on']})"
    if kind == "not moving":
        return (f"{where} has stayed at the identity for {after} validations (mean |angle| "
                f"{st['angle_deg']['mean_abs']:.2f} deg, |log-scale| {st['log_scale']['mean_abs']:.4f}, "
                f"|t| {max(st['tx']['mean_abs'], st['ty']['mean_abs']):.4f}); its loc-net may not be learning "
                f"(loc_lr_multiplier, lr)")
    return (f"{where} is collapsing for {after} validations (mean |log-scale| {st['log_scale']['mean_abs']:.2f}, "
            f"{st['outside']['mean']:.0%} of its sampling grid outside the input); consider "
            f"--set st_log_scale_bound=... or a lower loc_lr_multiplier")


__all__ = ["COMPENSATED", "QUANTITIES", "STCollector", "applied_values", "describe", "st_places", "st_warnings",
           "transform_values"]
