"""``st_grid_epochNNN.png``: what the input spatial transformer does to fixed validation images.

Each cell pair is an input image, with the region the ST samples outlined in red (the output square
mapped by the ST's matrix into input coordinates), and the ST's output. When the data set applies a
known transform (a rotation, scale or translation protocol, e.g. mnist-rot: the first of angle, scale,
horizontal shift that varies), the rows are
the images whose applied value is nearest to five evenly spaced values, labelled with that value;
otherwise two rows of consecutive images. The images are the first 256 of the validation split
(pass 0), the same in every epoch. Only an ST on the input image can be shown: a model whose STs
all act on feature maps at depth > 0 (e.g. STN-C1) gets no grid (noted in docs/training.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from stnlab import io
from stnlab.train.precision import autocast

ROWS, COLS, POOL = 5, 4, 256
# applied parameters a row can be chosen by (params key, row label); tx is shown in pixels
_APPLIED = (("angle", "rotation {:+.0f} deg ccw"), ("scale", "scale x{:.2f}"), ("tx", "shift {:+.0f} px"))


def input_st(model: nn.Module) -> nn.Module | None:
    """The model's ST that warps the input image (input ST, or a feature ST at depth 0), if any."""
    if getattr(model, "input_st", None) is not None:
        return model.input_st
    feature_sts = getattr(model, "feature_sts", {})
    return feature_sts["0"] if "0" in feature_sts else None


def _pick(params: dict[str, Tensor] | None, n: int, width: int) -> tuple[list[Tensor], list[str]]:
    """Indices (one row each) into the pool, and the row labels: by the first applied parameter that
    varies (rotation, scale, horizontal shift), else two rows of consecutive images."""
    cols = min(COLS, n)
    varied = [a for a in _APPLIED if params is not None and a[0] in params and n > 1 and float(params[a[0]].std()) > 0]
    if not varied:
        rows = [r for r in torch.arange(n)[: 2 * cols].split(cols) if len(r) == cols]
        return rows, [""] * len(rows)
    key, label = varied[0]
    values = params[key][:n].double()  # type: ignore[index]
    shown = {"angle": torch.rad2deg, "scale": torch.log}.get(key, lambda v: v * width / 2)  # scales evenly in log
    values = shown(values)
    targets = torch.linspace(float(values.min()), float(values.max()), ROWS, dtype=torch.float64)
    rows = [torch.argsort((values - t).abs())[:cols] for t in targets]
    return rows, [label.format(float(t.exp() if key == "scale" else t)) for t in targets]


def _outline(matrix: Tensor, size: tuple[int, int]) -> Tensor:
    """The output square's corners in input pixel coordinates (``5 x 2``, closed polygon)."""
    corners = torch.tensor([[-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1], [-1, -1, 1]], dtype=matrix.dtype)
    p = corners @ matrix.T
    xy = p[:, :2] / p[:, 2:]
    h, w = size
    return torch.stack([(xy[:, 0] + 1) * w / 2 - 0.5, (xy[:, 1] + 1) * h / 2 - 0.5], 1)


def _show(ax: Any, image: Tensor) -> None:
    img = image.float().clamp(0, 1)
    if img.shape[0] == 1:
        ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(img[:3].permute(1, 2, 0).numpy())
    ax.set_xticks([])
    ax.set_yticks([])


@torch.inference_mode()
def st_grid_figure(model: nn.Module, source: Any, title: str, precision: str = "fp32") -> Figure | None:
    """The figure (None when no ST acts on the input image); the model is left in its mode."""
    st = input_st(model)
    if st is None:
        return None
    batch = next(iter(source.batches(min(POOL, source.num_samples), shuffle=False, return_params=True)))
    rows, labels = _pick(batch.params, batch.images.shape[0], batch.images.shape[-1])
    device = next(model.parameters()).device
    was_training = st.training
    st.eval()
    try:
        with autocast(device, precision):
            out, mats = st(batch.images.to(device))
    finally:
        st.train(was_training)
    out, mats = out.float().cpu(), mats.float().cpu()
    cols = len(rows[0])
    fig = Figure(figsize=(1.25 * 2 * cols, 1.3 * len(rows) + 0.6))
    axes = fig.subplots(len(rows), 2 * cols, squeeze=False)
    for r, idx in enumerate(rows):
        for c, i in enumerate(idx.tolist()):
            ax_in, ax_out = axes[r, 2 * c], axes[r, 2 * c + 1]
            _show(ax_in, batch.images[i])
            poly = _outline(mats[i], tuple(batch.images.shape[-2:]))
            ax_in.plot(poly[:, 0].numpy(), poly[:, 1].numpy(), color="red", linewidth=0.8)
            ax_in.set_xlim(-0.5, batch.images.shape[-1] - 0.5)
            ax_in.set_ylim(batch.images.shape[-2] - 0.5, -0.5)
            _show(ax_out, out[i])
            if r == 0:
                ax_in.set_title("input", fontsize=8)
                ax_out.set_title("ST output", fontsize=8)
        axes[r, 0].set_ylabel(labels[r], fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(pad=0.3)
    return fig


def write_st_grid(fig: Figure, path: Path) -> None:
    """Save ``fig`` as a PNG at ``path`` atomically."""
    io.atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))


__all__ = ["input_st", "st_grid_figure", "write_st_grid"]
