"""Rotation pull: does the classifier give a loc-net any reason to rotate?

A loc-net learns only from ``dL/dθ``. For rotations that signal is the derivative of the loss with respect
to one more rotation ``φ`` of the (already ST-transformed) input, at ``φ = 0``:

    pull_i = d/dφ  L(classifier(warp(x_i, M_i @ rotation_matrix(φ))), y_i)

where ``M_i`` is the model's input-ST matrix (the identity for a CNN). Averaged per applied input angle,
a pull that is positive for negative angles and negative for positive ones (gradient descent on ``φ``
then turns each digit back) is a restoring signal; a pull near zero over a range of angles means the
classifier is equally good there, and nothing drives the loc-net to compensate those angles. Only
models whose ST (if any) warps the input are supported (CNN, STN-C0, STN-DLX, STN-SLX).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stnlab.errors import StnlabError
from stnlab.geometry import rotation_matrix, warp
from stnlab.modes import eval_mode


def _input_matrix(model: nn.Module, x: Tensor) -> Tensor:
    """The input ST's matrix of ``model`` for ``x`` (identity without one); refuses feature-map STs."""
    eye = torch.eye(3, dtype=x.dtype).expand(len(x), 3, 3)
    if not hasattr(model, "spatial_transformers"):
        return eye
    feature = {k: v for k, v in model.feature_sts.items() if k != "0"}
    if feature:
        raise StnlabError("rotation pull needs an ST that warps the input (CNN, STN-C0, STN-DLX, STN-SLX); "
                          f"this model warps feature maps at depths {', '.join(feature)}")
    st = model.input_st if model.input_st is not None else model.feature_sts["0"] if "0" in model.feature_sts \
        else None
    return eye if st is None else st.predict(x)


def rotation_pull(model: nn.Module, images: Tensor, labels: Tensor, angles_deg: Sequence[float]) -> Tensor:
    """Mean ``dL/dφ`` (per radian) over ``images`` rotated by each of ``angles_deg``: a ``len(angles)`` tensor."""
    classifier = model.backbone if hasattr(model, "backbone") else model
    out = []
    with eval_mode(model):
        for angle in angles_deg:
            x = warp(images, rotation_matrix(torch.full((len(images),), math.radians(angle))))
            with torch.no_grad():
                m = _input_matrix(model, x)
            phi = torch.zeros(len(images), requires_grad=True)
            loss = F.cross_entropy(classifier(warp(x, m @ rotation_matrix(phi))), labels, reduction="sum")
            (grad,) = torch.autograd.grad(loss, phi)
            out.append(grad.mean())
    return torch.stack(out)
