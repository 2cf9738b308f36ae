"""Figures (PNG), written atomically (their numbers go beside them with ``stnlab.io.write_json``).

Every ``plot_*`` function takes a result object, a path and a ``title`` naming the model or run and the
data, writes the PNG through a temporary file (never a half-written figure) and returns the path; the
matching ``*_figure`` function builds the figure itself. Every figure has that title, axis titles with
units and a legend where it shows several series, at a size that reads without zooming.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from torch import Tensor

from stnlab.analysis.alignment import AlignmentResult
from stnlab.analysis.compensation import CompensationResult
from stnlab.data.kinds import get_kind
from stnlab.io import atomic_write

_STYLES = (("optimum", "-", "optimum T_g"), ("inverse", "--", "analytic inverse T_h⁻¹"), ("none", ":", "no alignment"))
DPI = 100


def residual_figure(result: AlignmentResult, title: str) -> Figure:
    """Residual vs depth: one colour per transform, one line style per choice of ``T_g`` (two legends)."""
    fig = Figure(figsize=(8.6, 4.6))
    ax = fig.subplots()
    for j in range(len(result.transforms)):
        for name, style, _ in _STYLES:
            values = getattr(result, name)[:, j].mean(-1).numpy()
            ax.plot(result.depths, values, linestyle=style, marker="o" if name == "optimum" else None,
                    color=f"C{j % 10}", markersize=4)  # fmt: skip
    ax.set_xlabel("depth k (CNN stages applied; 0 = the image itself)")
    ax.set_ylabel("relative residual in the disk\n||T_g Γ_k(T_h f) − Γ_k(f)|| / ||Γ_k(f)||")
    ax.set_xticks(result.depths)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    n = int(result.none.shape[-1])
    ax.set_title(f"{title}\nmean over {n} images, disk radius {result.radius:g}, {result.family} T_g", fontsize=10)
    colours = [Line2D([], [], color=f"C{j % 10}", lw=2) for j in range(len(result.transforms))]
    first = ax.legend(colours, result.transforms, title="input transform T_h", fontsize=8, loc="upper left",
                      bbox_to_anchor=(1.01, 1.0))  # fmt: skip
    ax.add_artist(first)
    styles = [Line2D([], [], color="k", linestyle=st, marker="o" if name == "optimum" else None)
              for name, st, _ in _STYLES]  # fmt: skip
    ax.legend(styles, [text for *_, text in _STYLES], title="alignment T_g", fontsize=8, loc="lower left",
              bbox_to_anchor=(1.01, 0.0))  # fmt: skip
    fig.tight_layout()
    return fig


def plot_residual_vs_depth(result: AlignmentResult, path: str | Path, title: str = "alignment residual") -> Path:
    """Write :func:`residual_figure` to ``path``."""
    return save_figure(residual_figure(result, title), path)


def filter_figure(rows: list[dict], title: str) -> Figure:
    """Grouped bars per transform and filter kind: network residual at the optimum and filter non-invariance.
    Values below 0.005 are marked "≈0" so that a zero bar does not look missing."""
    kinds = list(dict.fromkeys(r["filters"] for r in rows))
    tfs = list(dict.fromkeys(r["transform"] for r in rows))
    fig = Figure(figsize=(10.0, 4.4))
    axes = fig.subplots(1, 2)
    width = 0.8 / len(kinds)
    panels = (("optimum", "network residual at the optimum", "relative residual (depth 1)"),
              ("filter_noninvariance", "filter non-invariance", "||λ − det(T_h) T_h⁻¹λ|| / ||λ||"))  # fmt: skip
    for ax, (key, name, ylabel) in zip(axes, panels):
        for i, kind in enumerate(kinds):
            sel = {r["transform"]: r for r in rows if r["filters"] == kind}
            xs = [t + (i - (len(kinds) - 1) / 2) * width for t in range(len(tfs))]
            heights = [sel[t][key] for t in tfs]
            ax.bar(xs, heights, width, label=f"{kind} filters", color=f"C{i}")
            for x, h in zip(xs, heights):
                if h < 0.005:
                    ax.annotate("≈0", (x, 0), xytext=(0, 2), textcoords="offset points", ha="center", fontsize=8,
                                color=f"C{i}", fontweight="bold")
        ax.set_xticks(range(len(tfs)))
        ax.set_xticklabels(tfs)
        ax.set_xlabel("input transform T_h")
        ax.set_ylabel(ylabel)
        ax.set_title(name, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def plot_filter_check(rows: list[dict], path: str | Path, title: str = "one-layer filter check") -> Path:
    """Write :func:`filter_figure` to ``path``."""
    return save_figure(filter_figure(rows, title), path)


def compensation_figure(result: CompensationResult, title: str) -> Figure:
    """Predicted vs applied parameter (mean ± std over images) with the full (−1) and no (0) compensation
    lines through the mean; the statistics in the legend."""
    fig = Figure(figsize=(6.4, 4.8))
    ax = fig.subplots()
    x, y = result.applied.numpy(), result.predicted
    mean, std = y.mean(1).numpy(), y.std(1, unbiased=False).numpy()
    centre = float(y.mean())
    stats = f"slope {round(result.slope, 2) + 0.0:.2f}, R² {result.r2:.2f}"  # + 0.0: no "-0.00"
    ax.errorbar(x, mean, yerr=std, fmt="o-", capsize=3, label=f"ST {result.st_index} prediction, mean ± std ({stats})")
    ax.plot(x, centre - (x - x.mean()), "k--", lw=1, label="full compensation (slope −1)")
    ax.plot(x, 0 * x + centre, "k:", lw=1, label="no compensation (slope 0)")
    ax.plot([], [], " ", label=f"class std {result.class_std:.3g} (no ST: {result.baseline_std:.3g})")
    unit = get_kind(result.kind).readout_unit
    ax.set_xlabel(f"applied {unit}")
    ax.set_ylabel(f"predicted {unit}")
    ax.set_title(f"{title}\n{result.kind} compensation, {int(y.shape[1])} test images", fontsize=10)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    order = [len(handles) - 1, *range(len(handles) - 1)]  # the prediction (an errorbar, listed last) first
    ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=8)
    fig.tight_layout()
    return fig


def plot_compensation(result: CompensationResult, path: str | Path, title: str = "compensation") -> Path:
    """Write :func:`compensation_figure` to ``path``."""
    return save_figure(compensation_figure(result, title), path)


def error_figure(result: CompensationResult, title: str) -> Figure:
    """Classification error at each applied value (one series)."""
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    ax.plot(result.values, 100 * result.error.numpy(), "o-")
    ax.set_xlabel(f"applied {result.kind} ({get_kind(result.kind).value_unit})")
    ax.set_ylabel("test error (%)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.set_title(f"{title}\ntest error under {result.kind}, {int(result.predicted.shape[1])} test images", fontsize=10)
    fig.tight_layout()
    return fig


def plot_error_vs_value(result: CompensationResult, path: str | Path, title: str = "test error") -> Path:
    """Write :func:`error_figure` to ``path``."""
    return save_figure(error_figure(result, title), path)


def st_grid_figure(transformed: Tensor, aligned: Tensor, values: list[float], kind: str, title: str) -> Figure:
    """Rows: applied values (labelled with their unit); column pairs: a transformed input and what the ST
    makes of it (``V x N x C x H x W`` each; grey for one channel, RGB for three)."""
    v, n = transformed.shape[:2]
    fig = Figure(figsize=(1.15 * 2 * n + 0.9, 1.15 * v + 0.9))
    axes = fig.subplots(v, 2 * n, squeeze=False)
    spec = get_kind(kind)
    for i in range(v):
        for j in range(n):
            for k, img in enumerate((transformed[i, j], aligned[i, j])):
                ax = axes[i, 2 * j + k]
                shown = img[0] if img.shape[0] != 3 else img.permute(1, 2, 0)
                ax.imshow(shown.clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title("input" if k == 0 else "ST output", fontsize=8)
        axes[i, 0].set_ylabel(spec.format_value(values[i]), fontsize=9)
    fig.supylabel(f"applied {kind} ({spec.value_unit})", fontsize=10)
    fig.suptitle(f"{title}: transformed test inputs and the ST's output", fontsize=10)
    height = fig.get_size_inches()[1]
    fig.tight_layout(pad=0.3, rect=(0.35 / fig.get_size_inches()[0], 0, 1, 1 - 0.35 / height))
    return fig


def plot_st_grid(transformed: Tensor, aligned: Tensor, values: list[float], path: str | Path,
                 kind: str = "rotation", title: str = "ST grid") -> Path:  # fmt: skip
    """Write :func:`st_grid_figure` to ``path``."""
    return save_figure(st_grid_figure(transformed, aligned, values, kind, title), path)


def image_grid_figure(images: Tensor, captions: list[str], title: str, cols: int = 8) -> Figure:
    """``B x C x H x W`` images in [0, 1] (grey or RGB) in a grid, each with its caption (up to three short
    lines), under ``title``."""
    b = images.shape[0]
    cols = min(b, cols)
    rows = -(-b // cols)
    lines = max(c.count("\n") + 1 for c in captions)
    cell_h = 1.85 + 0.16 * lines  # the square image (as wide as the cell) and its caption lines
    fig = Figure(figsize=(1.75 * cols, cell_h * rows + 0.45))
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < b:
            img = images[i]
            shown = img[0] if img.shape[0] != 3 else img.permute(1, 2, 0)
            ax.imshow(shown.clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_title(captions[i], fontsize=7.5)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(pad=0.3, h_pad=1.0, rect=(0, 0, 1, 1 - 0.4 / fig.get_size_inches()[1]))
    return fig


def save_figure(fig: Figure, path: str | Path, fmt: str = "png", dpi: int = DPI) -> Path:
    """Write any figure atomically (``fmt``: ``png`` or ``jpeg``); returns ``path``."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format=fmt))
