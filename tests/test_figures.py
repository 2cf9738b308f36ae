"""Every figure explains itself: a title naming model/run and data, axis titles with units, a legend where
there are several series, a readable size; zero bars are marked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from stnlab.analysis.alignment import AlignmentResult
from stnlab.analysis.compensation import CompensationResult
from stnlab.analysis.figures import (
    compensation_figure,
    error_figure,
    filter_figure,
    image_grid_figure,
    plot_residual_vs_depth,
    residual_figure,
    st_grid_figure,
)

SRC = Path(__file__).resolve().parents[1] / "src" / "stnlab"
TITLE = "STN-C0 on mnist-rot (run r1, best checkpoint)"


def texts(fig: plt.Figure) -> str:
    """Every piece of text on the figure: suptitle, titles, axis labels, legends, annotations."""
    return "\n".join(t.get_text() for t in fig.findobj(plt.Text))


def legend_entries(ax: plt.Axes) -> list[str]:
    return [t.get_text() for legend in ax.findobj(plt.matplotlib.legend.Legend) for t in legend.get_texts()]


def alignment_result() -> AlignmentResult:
    d, t, n = 3, 2, 4
    values = torch.rand(d, t, n)
    return AlignmentResult([0, 1, 2], ["rot45", "scale2"], "affine", 0.8, 10, values + 0.2, values + 0.1, values,
                           torch.eye(3).expand(d, t, n, 3, 3), points=[100, 50, 9])  # fmt: skip


def compensation_result() -> CompensationResult:
    applied = torch.tensor([-90.0, 0.0, 90.0])
    predicted = -0.5 * applied[:, None] + torch.randn(3, 5)
    return CompensationResult("rotation", 0, [-90, 0, 90], applied, predicted, torch.arange(5), torch.rand(3),
                              -0.5, 0.0, 0.9, 30.0, 56.0)  # fmt: skip


def check_readable(fig: plt.Figure, width: float = 6.0, height: float = 4.0) -> None:
    w, h = fig.get_size_inches()
    assert w >= width and h >= height, (w, h)
    plt.close(fig)


def test_residual_figure_has_two_legends_instead_of_a_key_in_the_title():
    fig = residual_figure(alignment_result(), TITLE)
    ax = fig.axes[0]
    assert ax.get_title().startswith(TITLE) and "solid" not in ax.get_title()
    assert "depth" in ax.get_xlabel() and "residual" in ax.get_ylabel()
    assert set(legend_entries(ax)) >= {"rot45", "scale2", "optimum T_g", "no alignment"}
    check_readable(fig)


def test_filter_figure_labels_both_axes_and_marks_zero_bars():
    rows = [{"filters": k, "transform": t, "optimum": 0.0 if (k, t) == ("c4", "rot90") else 0.5,
             "filter_noninvariance": 0.0 if t == "rot90" and k != "random" else 1.2, "none": 1, "inverse": 1}
            for k in ("random", "c4", "radial") for t in ("rot45", "rot90")]  # fmt: skip
    fig = filter_figure(rows, "one-layer networks, 16 filters, 100 MNIST digits")
    assert fig._suptitle.get_text().startswith("one-layer networks")
    for ax in fig.axes:
        assert ax.get_ylabel() and ax.get_xlabel() == "input transform T_h"
    assert texts(fig).count("≈0") == 3  # one marker per zero bar: c4 residual, c4 and radial non-invariance
    assert {"random filters", "c4 filters", "radial filters"} <= set(legend_entries(fig.axes[0]))
    check_readable(fig)


def test_compensation_and_error_figures_name_the_run_and_the_units():
    res = compensation_result()
    fig = compensation_figure(res, TITLE)
    ax = fig.axes[0]
    assert ax.get_title().startswith(TITLE) and "(degrees)" in ax.get_xlabel() and "(degrees)" in ax.get_ylabel()
    entries = legend_entries(ax)
    assert entries[0].startswith("ST 0 prediction") and any("class std" in e for e in entries) and len(entries) == 4
    check_readable(fig)
    fig = error_figure(res, TITLE)
    ax = fig.axes[0]
    assert ax.get_title().startswith(TITLE) and ax.get_xlabel() == "applied rotation (degrees)"
    assert ax.get_ylabel() == "test error (%)"
    check_readable(fig)


def test_st_grid_rows_carry_the_applied_angle_and_an_axis_title():
    shown = torch.rand(3, 2, 1, 8, 8)
    fig = st_grid_figure(shown, shown, [-90.0, 0.0, 45.0], "rotation", TITLE)
    rows = [fig.axes[i * 4].get_ylabel() for i in range(3)]
    assert rows == ["-90°", "+0°", "+45°"]  # the kind's one format (as the canonical figure's titles)
    assert fig._supylabel.get_text() == "applied rotation (degrees)" and TITLE in fig._suptitle.get_text()
    assert [fig.axes[k].get_title() for k in range(4)] == ["input", "ST output"] * 2
    plt.close(fig)


def test_image_grid_captions_every_image(tmp_path):
    fig = image_grid_figure(torch.rand(10, 3, 16, 16), [f"digit {i}\nrot +{i}°" for i in range(10)], "mnist-rot test")
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titled) == 10 and titled[4] == "digit 4\nrot +4°" and fig._suptitle.get_text() == "mnist-rot test"
    check_readable(fig, 8 * 1.5, 2 * 1.5)


def test_plot_writes_a_png(tmp_path):
    path = plot_residual_vs_depth(alignment_result(), tmp_path / "a.png", TITLE)
    assert path.read_bytes()[:4] == b"\x89PNG" and [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_the_library_leaves_matplotlib_s_backend_and_pyplot_alone():
    """Figures are drawn on ``matplotlib.figure.Figure`` (no pyplot, no global backend): importing every stnlab
    module, the CLI included, neither imports pyplot nor chooses a backend, so a user's session keeps its own."""
    code = ("import sys, importlib, pkgutil, stnlab\n"
            "for m in pkgutil.walk_packages(stnlab.__path__, 'stnlab.'):\n"
            "    if not m.name.endswith('__main__'):\n"
            "        importlib.import_module(m.name)\n"
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "MPLBACKEND": ""})
    source = "\n".join(p.read_text() for p in SRC.rglob("*.py"))
    assert "matplotlib.use(" not in source and "noqa: E402" not in source
