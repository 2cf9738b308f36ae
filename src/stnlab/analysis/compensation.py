"""Loc-net compensation: does a trained ST undo a known input transform?

Test images are transformed by a grid of known transforms ``A_h`` (rotations, scalings, translations or any
registered transform kind, see :mod:`stnlab.data.kinds`), the model predicts its ST matrices, and each matrix
is turned into the kind's parameter (its read-out). An ST that fully compensates
predicts ``A_h^-1`` composed with a per-image canonical pose ``C_i``, so its parameter is ``-applied + c_i``:

* **slope** of predicted on applied parameter *within each image* (both centred per image, pooled):
  ``-1`` = full compensation, ``0`` = none; **r2** is the share of within-image variance it explains
  (0 when the prediction does not vary at all);
* **authors' statistic** (Finnveden et al.): the per-class standard deviation of ``applied + predicted``
  (degrees for rotations), averaged over classes — small when every image of a class is brought to one
  pose; ``baseline_std`` is the same statistic with no compensation (the spread of the applied values).
  It includes the natural pose spread of a class: a perfect per-image aligner is not at 0.
* **circular correlation** (kinds with a circular read-out: rotations; Jammalamadaka & SenGupta) of the
  predicted on the applied angle, the prediction centred per image by its circular mean: ``-1`` = full
  compensation, ``0`` = none. Unlike the slope it is not misled by a 360-degree wrap, so it is the statistic
  for applied angles over -180..180.

Parameters are the kind's read-out (:mod:`stnlab.data.kinds`): what a matrix does to the *content*, in input
coordinates -- the angle it turns the content counter-clockwise (degrees), the log of its magnification, its
shift to the right in input pixels (for an ST that also zooms: minus the x of the input point its output
centre samples, so that an ST which centres every digit reads slope -1 whatever its zoom), a perspective
tilt -- so ``applied`` is the read-out of the value given (``log`` of it for scalings) and a compensating ST
predicts its negative. An ST that acts on layer-X
feature maps predicts a matrix in layer-X coordinates; it is mapped to input coordinates with
``L_X M L_X^-1`` (see :mod:`stnlab.nn.layers`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from stnlab.analysis.transforms import InputTransform, make_transform
from stnlab.data.kinds import get_kind
from stnlab.errors import StnlabError
from stnlab.geometry import warp
from stnlab.modes import eval_mode
from stnlab.nn.layers import layer_geometries, stages_of
from stnlab.nn.model import st_depths as model_st_depths


@dataclass
class CompensationResult:
    """Applied values ``(V,)``, predicted parameters ``(V, N)``, per-value error ``(V,)`` and statistics."""

    kind: str
    st_index: int
    values: list[float]
    applied: Tensor  # V, parameter of A_h (degrees / log-scale / pixels)
    predicted: Tensor  # V x N, same units
    labels: Tensor  # N
    error: Tensor  # V, classification error at each applied value
    slope: float
    intercept: float
    r2: float
    class_std: float
    baseline_std: float
    circ_corr: float | None = None  # kinds with a circular read-out (rotations) only

    def to_dict(self) -> dict:
        """JSON-ready summary (per-value means and stds of the prediction, the statistics)."""
        return {
            "kind": self.kind,
            "st_index": self.st_index,
            "values": self.values,
            "applied": self.applied.tolist(),
            "predicted_mean": self.predicted.mean(1).tolist(),
            "predicted_std": self.predicted.std(1, unbiased=False).tolist(),
            "error": self.error.tolist(),
            "slope": self.slope,
            "intercept": self.intercept,
            "r2": self.r2,
            "class_std": self.class_std,
            "baseline_std": self.baseline_std,
            "circ_corr": self.circ_corr,
            "num_images": int(self.predicted.shape[1]),
            "class_std_by_class": self.class_std_by_class(),
        }

    def canonical(self) -> Tensor:
        """V x N: the parameter each image ends in, ``applied + predicted`` (0: back to its own pose)."""
        return self.applied[:, None] + self.predicted

    def class_std_by_class(self) -> dict[int, float]:
        """Per class: the spread of the canonical parameter (``class_std`` is their mean)."""
        cls = self.labels if self.labels.dim() == 1 else self.labels[:, 0]
        return class_stds(self.canonical(), cls)


def st_depths(model: nn.Module) -> list[int]:
    """Depth of each ST of an stnlab model, in the order of ``model(x, return_transforms=True)``; an error for
    a model without STs."""
    depths = model_st_depths(model)
    if not depths:
        raise StnlabError(
            "this model has no spatial transformer; compensation needs an STN model "
            "(e.g. STN-C0, STN-SL1), not a plain CNN"
        )
    return depths


def _unwrap(degrees: Tensor) -> Tensor:
    """Remove 360-degree jumps along dim 0 (like numpy.unwrap)."""
    d = torch.diff(degrees, dim=0)
    d = torch.remainder(d + 180.0, 360.0) - 180.0
    return torch.cat([degrees[:1], degrees[:1] + torch.cumsum(d, dim=0)])


def _correct(logits: Tensor, labels: Tensor) -> Tensor:
    """Per-sample correctness; for multi-head logits (B x H x K) a sample is right when all heads are."""
    pred = logits.argmax(-1)
    ok = pred == labels
    return ok.flatten(1).all(1) if ok.dim() > 1 else ok


def transformed_predictions(
    model: nn.Module, images: Tensor, tf: InputTransform, st_index: int, batch_size: int = 256
) -> tuple[Tensor, Tensor, Tensor]:
    """Run ``model`` (in eval mode; each module's mode is restored) on ``T_h images``: ``(transformed images,
    ST matrix in input coordinates, logits)``. The model runs on the device of its parameters (the images are
    moved there chunk by chunk); the results come back on the CPU."""
    depths = st_depths(model)
    if not 0 <= st_index < len(depths):
        raise StnlabError(f"st_index {st_index} out of range; this model has {len(depths)} ST(s)")
    geo = layer_geometries(stages_of(model), images.shape[1:])[depths[st_index]]
    device = next(model.parameters()).device
    a_h_out_to_in = tf.matrix(images.shape[-1]).to(device)
    layer_to_input = geo.to_input(device=device)
    xs, mats, logits = [], [], []
    with torch.no_grad(), eval_mode(model):
        for chunk in images.split(batch_size):
            x = warp(chunk.to(device), a_h_out_to_in.expand(chunk.shape[0], 3, 3))
            out, st_out_to_in = model(x, return_transforms=True)  # one matrix per ST, in its layer's coordinates
            xs.append(x.cpu())
            # the ST's sampling matrix in input coordinates: L_X M L_X^-1
            mats.append((layer_to_input @ st_out_to_in[st_index].float() @ torch.linalg.inv(layer_to_input)).cpu())
            logits.append(out.float().cpu())
    return torch.cat(xs), torch.cat(mats), torch.cat(logits)


def compensation(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    kind: str = "rotation",
    values: Sequence[float] | None = None,
    st_index: int = 0,
    batch_size: int = 256,
    progress: bool = False,
) -> CompensationResult:
    """Apply each of ``values`` (the kind's values: degrees / scale factors / pixels along x, ...; default: the
    kind's grid) to ``images`` and measure how the ST at ``st_index`` compensates; see the module docstring for
    the statistics."""
    spec = get_kind(kind)
    values = list(spec.default_values if values is None else values)
    if len(values) < 2:
        raise StnlabError("compensation needs at least two applied values to fit a slope")
    size = images.shape[-1]
    applied, predicted, errors = [], [], []
    for v in tqdm(values, desc=f"compensation ({kind})", disable=not progress):
        tf = make_transform(kind, v)
        _, mats, logits = transformed_predictions(model, images.float(), tf, st_index, batch_size)
        applied.append(tf.content_value(tf.matrix(size), size)[0])
        predicted.append(tf.content_value(mats, size))
        errors.append(1 - _correct(logits, labels).float().mean())
    x, y = torch.stack(applied), torch.stack(predicted)  # V, V x N
    if spec.circular:
        y = _unwrap(y)
    slope, intercept, r2 = _within_image_fit(x, y)
    cls = labels if labels.dim() == 1 else labels[:, 0]
    return CompensationResult(
        kind,
        st_index,
        values,
        x,
        y,
        labels,
        torch.stack(errors),
        slope,
        intercept,
        r2,
        _class_std(x[:, None] + y, cls),
        _class_std(x[:, None].expand_as(y), cls),
        circular_correlation(x, y) if spec.circular else None,
    )


def _within_image_fit(x: Tensor, y: Tensor) -> tuple[float, float, float]:
    """Slope, intercept and R^2 of ``y`` (V x N) on ``x`` (V) after centring both per image."""
    xc = (x - x.mean())[:, None]  # V x 1
    yc = y - y.mean(0, keepdim=True)  # V x N
    slope = float((xc * yc).sum() / (xc.pow(2).sum() * y.shape[1]).clamp_min(1e-12))
    intercept = float(y.mean() - slope * x.mean())
    ss_res = (yc - slope * xc).pow(2).sum()
    ss_tot = yc.pow(2).sum()
    if ss_tot <= 1e-12 * max(1.0, float(y.pow(2).sum())):
        return slope, intercept, 0.0  # the prediction does not vary with the applied value: nothing explained
    return slope, intercept, float(1 - ss_res / ss_tot)


def circular_correlation(applied_deg: Tensor, predicted_deg: Tensor) -> float:
    """Circular correlation of ``predicted_deg`` (V x N) on ``applied_deg`` (V), in [-1, 1].

    Both are centred on their circular means (the prediction per image, so a per-image canonical pose does
    not count), then ``sum sin(a) sin(p) / sqrt(sum sin(a)^2 * sum sin(p)^2)`` over all values and images.
    0 when the prediction does not vary (beyond float32 rounding).
    """
    a = torch.deg2rad(applied_deg.double())[:, None]  # V x 1
    p = torch.deg2rad(predicted_deg.double())  # V x N
    a = a - torch.atan2(torch.sin(a).mean(), torch.cos(a).mean())
    p = p - torch.atan2(torch.sin(p).mean(0, keepdim=True), torch.cos(p).mean(0, keepdim=True))
    sa, sp = torch.sin(a).expand_as(p), torch.sin(p)
    if float(sp.pow(2).mean().sqrt()) < 1e-5 or float(sa.pow(2).mean()) == 0.0:
        return 0.0  # the prediction does not vary beyond float32 rounding (1e-5 rad): nothing explained
    return float((sa * sp).sum() / torch.sqrt(sa.pow(2).sum() * sp.pow(2).sum()))


def _class_std(values: Tensor, classes: Tensor) -> float:
    """Mean over classes of the std of ``values`` (V x N) over that class's images and all applied values."""
    return sum(class_stds(values, classes).values()) / len(classes.unique())


def class_stds(values: Tensor, classes: Tensor) -> dict[int, float]:
    """Per class: the std of ``values`` (V x N) over that class's images and all applied values.

    Which classes keep a spread of the canonical parameter (``applied + predicted``) — a rotation-symmetric
    digit such as 0 has no pose for a loc-net to find.
    """
    return {int(c): float(values[:, classes == c].std(unbiased=False)) for c in classes.unique()}


def aligned_views(
    model: nn.Module, images: Tensor, kind: str, values: Sequence[float], st_index: int = 0
) -> tuple[Tensor, Tensor]:
    """``(transformed, aligned)``, each ``V x N x C x H x W``: inputs under each applied value and those
    inputs warped by the ST's matrix (in input coordinates; for a feature-map ST this shows what its
    transform does to the image, not the feature maps it really warps)."""
    xs, al = [], []
    for v in values:
        tf = make_transform(kind, v)
        x, mats, _ = transformed_predictions(model, images.float(), tf, st_index)
        xs.append(x)
        al.append(warp(x, mats))
    return torch.stack(xs), torch.stack(al)
