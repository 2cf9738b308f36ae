"""``st_grid_epochNNN.png``: what the input spatial transformer does to fixed validation images.

Each cell pair is an input image, with the region the ST samples outlined in red (the output square
mapped by the ST's matrix into input coordinates), and the ST's output. When the data set applies a
known transform (mnist-rot: angle, mnist-scale: scale, mnist-trans: horizontal shift), the rows are
the images whose applied value is nearest to five evenly spaced values, labelled with that value;
otherwise two rows of consecutive images. The images are the first 256 of the validation split
(pass 0), the same in every epoch. Only an ST on the input image can be shown: a model whose STs
all act on feature maps at depth > 0 (e.g. STN-C1) gets no grid (noted in docs/training.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from stnlab.train.checkpoint import atomic_write_bytes  # noqa: E402
from stnlab.train.precision import autocast  # noqa: E402

ROWS, COLS, POOL = 5, 4, 256
# applied parameter shown per row: (params key, label, unit conversion)
_APPLIED = {"mnist-rot": ("angle", "rotation {:+.0f} deg ccw", 57.29577951308232),
            "mnist-scale": ("scale", "scale x{:.2f}", 1.0),
            "mnist-trans": ("tx", "shift {:+.0f} px", 30.0)}  # tx normalised on the 60 px canvas


def input_st(model: nn.Module) -> nn.Module | None:
    """The model's ST that warps the input image (input ST, or a feature ST at depth 0), if any."""
    if getattr(model, "input_st", None) is not None:
        return model.input_st
    feature_sts = getattr(model, "feature_sts", {})
    return feature_sts["0"] if "0" in feature_sts else None


def _pick(dataset: str, params: dict[str, Tensor] | None, n: int) -> tuple[list[Tensor], list[str]]:
    """Indices (one row each) into the pool, and the row labels."""
    spec = _APPLIED.get(dataset)
    if spec is None or params is None or float(params[spec[0]].std()) == 0:
        rows = [torch.arange(r * COLS, min((r + 1) * COLS, n)) for r in range(2) if r * COLS < n]
        return rows, [""] * len(rows)  # (a validation split of fewer than 8 images fills fewer cells)
    key, label, unit = spec
    values = params[key][:n].double() * unit
    targets = torch.linspace(float(values.min()), float(values.max()), ROWS, dtype=torch.float64)
    rows = [torch.argsort((values - t).abs())[:COLS] for t in targets]
    return rows, [label.format(float(t)) for t in targets]


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
def st_grid_figure(model: nn.Module, source: Any, title: str, precision: str = "fp32") -> plt.Figure | None:
    """The figure (None when no ST acts on the input image); the model is left in its mode."""
    st = input_st(model)
    if st is None:
        return None
    batch = next(iter(source.batches(min(POOL, source.num_samples), shuffle=False, return_params=True)))
    rows, labels = _pick(source.dataset, batch.params, batch.images.shape[0])
    device = next(model.parameters()).device
    was_training = st.training
    st.eval()
    try:
        with autocast(device, precision):
            out, mats = st(batch.images.to(device))
    finally:
        st.train(was_training)
    out, mats = out.float().cpu(), mats.float().cpu()
    fig, axes = plt.subplots(len(rows), 2 * COLS, figsize=(1.25 * 2 * COLS, 1.3 * len(rows) + 0.6), squeeze=False)
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


def write_st_grid(fig: plt.Figure, path: Path) -> None:
    """Save ``fig`` as a PNG at ``path`` atomically and close it."""
    atomic_write_bytes(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)


__all__ = ["input_st", "st_grid_figure", "write_st_grid"]
