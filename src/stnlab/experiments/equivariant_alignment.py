"""Extension: the alignment residual of a trained group CNN with and without the channel action, over angles.

For each backbone (a trained C_N-equivariant one and a trained plain CNN) and each input rotation by
``-180..180`` degrees, the optimum residual of aligning Γ_k(T_h f) to Γ_k(f) (:func:`stnlab.analysis.
alignment_residual`, MNIST test digits centred on the 60 px canvas so that depth 2 still has a 10 x 10 map)
with a purely spatial ``T_g`` (the theorem's setting) and with ``T_g`` plus the orientation shift of regular
C_N fields (:class:`~stnlab.analysis.RegularFieldAction`). At multiples of 90 degrees (exact on the pixel
grid) the group CNN aligns to float rounding with the action and not without; between them the residual is
limited by interpolation (bilinear resampling of the input and of the maps, the orientation shift between
channels, steerable filters sampled on the grid). The plain CNN's channels are no regular fields: the same
action (its channels taken ``N`` at a time) does not help it.

Command (``scripts/equivariant_alignment.py``): writes ``RESULTS/equivariant-alignment.json`` and
``RESULTS/figures/equivariant-alignment.png``; the claims ledger reads the JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from stnlab.analysis import RegularFieldAction, alignment_residual
from stnlab.analysis.figures import save_figure
from stnlab.data import load_mnist
from stnlab.io import write_json

ANGLES = tuple(float(a) for a in range(-180, 181, 15))
REPORT = "equivariant-alignment.json"
FIGURE = "equivariant-alignment.png"


def centred_digits(n: int, canvas: int = 60, seed: int = 0, root: str | Path | None = None) -> torch.Tensor:
    """``n`` MNIST test digits (drawn with ``seed``) centred on a ``canvas`` side: ``n x 1 x canvas x canvas``."""
    images, _ = load_mnist("test", root, download=False)
    pick = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))[:n]
    pad = (canvas - 28) // 2
    return F.pad(images[pick, None].float().div(255), (pad, canvas - 28 - pad) * 2)


def curve_rows(model: nn.Module, images: torch.Tensor, group_order: int, *, angles: Sequence[float] = ANGLES,
               depths: Sequence[int] = (1, 2), steps: int = 10) -> list[dict[str, Any]]:
    """One row per (channel action, depth, angle): mean/max of the ``none``/``inverse``/``optimum`` residuals."""
    rows = []
    for action in (None, RegularFieldAction(group_order)):
        res = alignment_residual(model, images, [f"rot:{a:g}" for a in angles], depths=list(depths), steps=steps,
                                 channel_action=action)
        for i, d in enumerate(res.depths):
            for j, a in enumerate(angles):
                row = {"action": None if action is None else action.label, "depth": d, "angle": a}
                row.update({k: float(getattr(res, k)[i, j].mean()) for k in ("none", "inverse", "optimum")})
                rows.append({**row, "optimum_max": float(res.optimum[i, j].max())})
    return rows


def alignment_report(backbones: Mapping[str, tuple[nn.Module, Mapping[str, Any]]], images: torch.Tensor,
                     group_order: int, *, angles: Sequence[float] = ANGLES, depths: Sequence[int] = (1, 2),
                     steps: int = 10) -> dict[str, Any]:
    """The report for ``backbones`` = ``{role: (model, description)}`` (roles: ``equivariant``, ``plain``)."""
    return {"group_order": group_order, "images": int(images.shape[0]), "canvas": int(images.shape[-1]),
            "angles": list(angles), "depths": list(depths), "steps": steps, "family": "affine",
            "note": "optimum: mean relative residual at the best T_g (affine, Levenberg-Marquardt from the identity "
                    "and the analytic inverse); action regular:N also shifts the orientation channels back",
            "backbones": {role: {**dict(desc), "rows": curve_rows(model, images, group_order, angles=angles,
                                                                   depths=depths, steps=steps)}
                          for role, (model, desc) in backbones.items()}}


def quarter_turns(data: Mapping[str, Any], role: str, action: str | None) -> list[float]:
    """The mean optimum residuals of ``role`` with ``action`` at the nonzero multiples of 90 degrees."""
    return [r["optimum"] for r in data["backbones"][role]["rows"]
            if r["action"] == action and r["angle"] % 90 == 0 and r["angle"] != 0]


def format_markdown(data: Mapping[str, Any], angles: Sequence[float] = (45.0, 90.0, 135.0, 180.0)) -> str:
    """The report's optimum residuals at ``angles`` as a markdown table (docs/equivariant.md holds it)."""
    action = f"regular:{data['group_order']}"
    lines = ["| backbone | depth | T_g | " + " | ".join(f"{a:g}°" for a in angles) + " |",
             "| --- | --- | --- |" + " --- |" * len(angles)]
    for role, b in data["backbones"].items():
        for depth in data["depths"]:
            for act, what in ((None, "spatial"), (action, "spatial + orientation shift")):
                got = {r["angle"]: r["optimum"] for r in b["rows"] if r["depth"] == depth and r["action"] == act}
                lines.append(f"| {b['model']} ({role}) | {depth} | {what} | "
                             + " | ".join(f"{got[a]:.2g}" if got[a] < 1e-3 else f"{got[a]:.3f}" for a in angles) + " |")
    return "\n".join(lines)


def figure(data: Mapping[str, Any]) -> Figure:
    """Optimum residual against the input's rotation, one panel per depth, log scale; the legend below."""
    depths = data["depths"]
    fig = Figure(figsize=(5.6 * len(depths), 4.9))
    axes = fig.subplots(1, len(depths), squeeze=False)
    action = f"regular:{data['group_order']}"
    for ax, depth in zip(axes[0], depths):
        for c, (role, b) in enumerate(data["backbones"].items()):
            for act, style, what in ((action, "-", "spatial T_g + orientation shift"), (None, "--", "spatial T_g")):
                rows = [r for r in b["rows"] if r["depth"] == depth and r["action"] == act]
                ax.plot([r["angle"] for r in rows], [max(r["optimum"], 1e-8) for r in rows], style, marker="o",
                        markersize=3, color=f"C{c}", label=f"{b['model']} ({role}): {what}")
        ax.set_yscale("log")
        ax.set_xticks(range(-180, 181, 45))
        ax.set_xlabel("rotation of the input (degrees, counter-clockwise)")
        ax.set_ylabel("optimum relative residual (log)")
        ax.set_title(f"depth {depth}", fontsize=10)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8)
    fig.suptitle(f"Can a transform of the feature maps undo a rotation of the input? {data['images']} MNIST test "
                 f"digits on {data['canvas']} px; C_{data['group_order']} regular fields", fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def write_report(data: Mapping[str, Any], results: str | Path) -> tuple[Path, Path]:
    """Write the JSON report and its figure into ``results`` (``figures/`` for the PNG)."""
    out = Path(results)
    write_json(out / REPORT, data)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    save_figure(figure(data), out / "figures" / FIGURE, dpi=100)
    return out / REPORT, out / "figures" / FIGURE
