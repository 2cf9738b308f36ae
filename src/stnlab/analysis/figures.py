"""Figures (PNG, matplotlib Agg), written atomically (their numbers go beside them with ``stnlab.io.write_json``).

Every ``plot_*`` function takes a result object and a path, writes the PNG through a temporary file
(never a half-written figure) and returns the path.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from torch import Tensor  # noqa: E402

from stnlab.analysis.alignment import AlignmentResult  # noqa: E402
from stnlab.analysis.compensation import CompensationResult  # noqa: E402
from stnlab.io import atomic_write  # noqa: E402

_UNITS = {"rotation": "angle (degrees)", "scale": "log-scale", "translation": "tx (input pixels)"}


def _save(fig: plt.Figure, path: str | Path) -> Path:
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=90, format="png"))
    finally:
        plt.close(fig)


def plot_residual_vs_depth(result: AlignmentResult, path: str | Path, title: str | None = None) -> Path:
    """Residual vs depth, one colour per transform: optimum (solid), analytic inverse (dashed),
    no alignment (dotted)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for j, label in enumerate(result.transforms):
        colour = f"C{j % 10}"
        for name, style in (("optimum", "-o"), ("inverse", "--"), ("none", ":")):
            ax.plot(
                result.depths,
                getattr(result, name)[:, j].mean(-1).numpy(),
                style,
                color=colour,
                label=label if name == "optimum" else None,
                markersize=4,
            )
    ax.set_xlabel("depth k (stages of the CNN)")
    ax.set_ylabel("relative residual in the disk")
    ax.set_xticks(result.depths)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.set_title(
        title or f"alignment residual ({result.family} T_g; solid optimum, dashed T_h^-1, dotted none)", fontsize=9
    )
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return _save(fig, path)


def plot_filter_check(rows: list[dict], path: str | Path) -> Path:
    """Grouped bars: optimum residual of a one-layer network and the filters' non-invariance."""
    kinds = list(dict.fromkeys(r["filters"] for r in rows))
    tfs = list(dict.fromkeys(r["transform"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.4), sharey=False)
    width = 0.8 / len(kinds)
    for i, kind in enumerate(kinds):
        sel = {r["transform"]: r for r in rows if r["filters"] == kind}
        xs = [t + (i - (len(kinds) - 1) / 2) * width for t in range(len(tfs))]
        axes[0].bar(xs, [sel[t]["optimum"] for t in tfs], width, label=kind, color=f"C{i}")
        axes[1].bar(xs, [sel[t]["filter_noninvariance"] for t in tfs], width, label=kind, color=f"C{i}")
    for ax, title in zip(axes, ("network residual at the optimum", "filter non-invariance")):
        ax.set_xticks(range(len(tfs)))
        ax.set_xticklabels(tfs)
        ax.set_title(title, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_compensation(result: CompensationResult, path: str | Path) -> Path:
    """Predicted vs applied parameter (mean and std over images) with the full (-1) and no (0)
    compensation lines through the mean."""
    fig, ax = plt.subplots(figsize=(5.0, 4.0))
    x, y = result.applied.numpy(), result.predicted
    mean, std = y.mean(1).numpy(), y.std(1, unbiased=False).numpy()
    centre = float(y.mean())
    ax.errorbar(x, mean, yerr=std, fmt="o-", capsize=3, label=f"predicted (slope {result.slope:.2f})")
    ax.plot(x, centre - (x - x.mean()), "k--", lw=1, label="full compensation (-1)")
    ax.plot(x, 0 * x + centre, "k:", lw=1, label="none (0)")
    unit = _UNITS[result.kind]
    ax.set_xlabel(f"applied {unit}")
    ax.set_ylabel(f"predicted {unit} (ST {result.st_index})")
    ax.set_title(
        f"R^2 {result.r2:.2f}, class std {result.class_std:.3g} (no ST: {result.baseline_std:.3g})", fontsize=9
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_error_vs_value(result: CompensationResult, path: str | Path) -> Path:
    """Classification error at each applied value."""
    fig, ax = plt.subplots(figsize=(5.0, 3.4))
    ax.plot(result.values, 100 * result.error.numpy(), "o-")
    ax.set_xlabel(f"applied {result.kind} ({'degrees' if result.kind == 'rotation' else 'value'})")
    ax.set_ylabel("test error (%)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def plot_st_grid(transformed: Tensor, aligned: Tensor, values: list[float], path: str | Path) -> Path:
    """Rows: applied values; column pairs: a transformed input and what the ST makes of it
    (``V x N x C x H x W`` each, first channel shown)."""
    v, n = transformed.shape[:2]
    fig, axes = plt.subplots(v, 2 * n, figsize=(1.1 * 2 * n, 1.1 * v), squeeze=False)
    for i in range(v):
        for j in range(n):
            for k, img in enumerate((transformed[i, j, 0], aligned[i, j, 0])):
                ax = axes[i, 2 * j + k]
                ax.imshow(img.numpy(), cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title("input" if k == 0 else "ST", fontsize=7)
        axes[i, 0].set_ylabel(f"{values[i]:g}", fontsize=7)
    fig.tight_layout(pad=0.2)
    return _save(fig, path)
