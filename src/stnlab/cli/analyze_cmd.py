"""``stnlab analyze``: measure the theory (alignment residuals, filter checks) and trained STs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from stnlab.analysis import (
    aligned_views,
    alignment_residual,
    compensation,
    filter_check,
    layer_geometries,
    stages_of,
    two_channel_example,
)
from stnlab.analysis.channel_action import parse_channel_action
from stnlab.analysis.compensation import st_depths
from stnlab.analysis.figures import (
    plot_compensation,
    plot_error_vs_value,
    plot_filter_check,
    plot_residual_vs_depth,
    plot_st_grid,
)
from stnlab.cli.analyze_common import (
    add_common,
    add_history,
    load_trained,
    out_folder,
    pick_device,
    run_spec,
    run_title,
    test_images,
)
from stnlab.data import dataset_spec
from stnlab.data.kinds import get_kind, kind_names
from stnlab.errors import StnlabError
from stnlab.experiments.report import make_report, report_row
from stnlab.io import check_creatable, ensure_dir, write_json
from stnlab.models import create_model


def _align_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--transforms",
        nargs="+",
        default=None,
        metavar="KIND:VALUE",
        help="input transforms, e.g. rot:45 scale:2 trans:4,-4 (default: a whole-stride shift, "
        "rot:45, rot:90, scale:2)",
    )
    p.add_argument("--depths", nargs="+", type=int, default=None, help="depths to analyse (default: all usable)")
    p.add_argument("--family", default="affine", help="freedom of T_g around each start (default: affine)")
    p.add_argument("--radius", type=float, default=0.8, help="disk radius, normalised units (default: 0.8)")
    p.add_argument("--steps", type=int, default=10, help="Levenberg-Marquardt iterations (default: 10)")
    p.add_argument("--channel-action", default="none", metavar="ACTION",
                   help="applied with T_g: none (default: the theorem's purely spatial T_g) or regular:N (shift the "
                        "orientation channels of regular C_N fields back by the input's rotation)")


def register(subparsers: Any) -> None:
    """Add ``analyze`` with its sub-commands ``alignment``, ``filters``, ``compensation``, ``figures``,
    ``history``."""
    p = subparsers.add_parser(
        "analyze",
        help="measure when spatial transforms can (not) give invariance",
        description="Alignment residuals of CNN feature maps, filter-level theorem "
        "checks, and the compensation of trained spatial transformers.",
    )
    sub = p.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)
    _add_alignment(sub)
    _add_filters(sub)
    _add_trained(sub)
    add_history(sub)


def _add_alignment(sub: Any) -> None:
    a = sub.add_parser(
        "alignment",
        help="residual of aligning feature maps of transformed images, per depth",
        description="For MNIST test digits and each input transform T_h, the relative residual "
        "||T_g G_k(T_h f) - G_k(f)|| / ||G_k(f)|| in a centred disk: without "
        "alignment, with the analytic inverse, and at the optimal T_g. Writes "
        "alignment.json and alignment.png.",
    )
    a.add_argument("--run", metavar="RUN_DIR", default=None, help="use a trained run's CNN (default: random)")
    a.add_argument("--model", default="CNN", help="model whose backbone is analysed (default: CNN)")
    a.add_argument(
        "--dataset",
        default="mnist-trans",
        help="data set of the backbone (a name, or folder:PATH, idx:PATH, npz:FILE); MNIST digits (or your "
        "images) are centred on its canvas (default: mnist-trans, 60 px, so that depth 2 still has a 10x10 map)",
    )
    _align_args(a)
    add_common(a, "output folder (required)")
    a.set_defaults(func=run_alignment)


def _add_filters(sub: Any) -> None:
    f = sub.add_parser(
        "filters",
        help="single-layer theorem: random, 90-degree-symmetric, isotropic filters",
        description="One-layer networks of random, C4-symmetrised and radial filters: alignment "
        "residual vs the filters' own non-invariance, and the two-channel W/M "
        "example. Writes filters.json and filters.png.",
    )
    f.add_argument(
        "--transforms",
        nargs="+",
        default=["rot:45", "rot:90", "scale:2"],
        metavar="KIND:VALUE",
        help="linear input transforms (default: rot:45 rot:90 scale:2)",
    )
    f.add_argument("--filters", type=int, default=16, help="filters per kind (default: 16)")
    f.add_argument("--size", type=int, default=9, help="filter side in pixels (default: 9)")
    f.add_argument("--radius", type=float, default=0.8, help="disk radius, normalised units (default: 0.8)")
    f.add_argument("--steps", type=int, default=10, help="Levenberg-Marquardt iterations (default: 10)")
    add_common(f, "output folder (required)")
    f.set_defaults(func=run_filters)


def _add_trained(sub: Any) -> None:
    """``compensation`` and ``figures``: the analyses of a trained run."""
    for name, helptext in (
        ("compensation", "how much a trained ST undoes known input transforms"),
        ("figures", "all figures for a trained run"),
    ):
        c = sub.add_parser(name, help=helptext, description=helptext + ". Writes JSON and PNG files.")
        c.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by 'stnlab train'")
        c.add_argument("--checkpoint", default="best", help="best, last, or a checkpoint file (default: best)")
        c.add_argument(
            "--kind",
            default="rotation",
            choices=kind_names(),
            help="applied transform (default: rotation)",
        )
        c.add_argument(
            "--values",
            nargs="+",
            type=float,
            default=None,
            help="applied values: degrees, scale factors or pixels (default: a grid per kind)",
        )
        c.add_argument("--st-index", type=int, default=0, help="which ST of the model (default: 0, the first)")
        c.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                       help="where the trained model runs (default: auto = a GPU if one is visible); a run "
                            "trained on a GPU is analysed on a CPU-only machine with cpu or auto")
        add_common(c, "output folder (default: RUN_DIR/analysis)")
        if name == "figures":
            _align_args(c)
        c.set_defaults(func=run_compensation if name == "compensation" else run_figures)


def _alignment(
    args: argparse.Namespace, model: torch.nn.Module, dataset: str, size: int, out: Path, title: str,
    options: dict[str, Any] | None = None,
) -> None:
    """Run the alignment analysis on ``args.images`` digits; write alignment.json/.png into ``out``."""

    action = parse_channel_action(args.channel_action)
    images, _ = test_images(args, dataset, size, options)
    transforms = args.transforms
    if transforms is None:
        jump = int(max(g.jump for g in layer_geometries(stages_of(model), images.shape[1:])))
        transforms = [f"trans:{jump}", "rot:45", "rot:90", "scale:2"]
    res = alignment_residual(
        model,
        images,
        transforms,
        depths=args.depths,
        family=args.family,
        radius=args.radius,
        steps=args.steps,
        channel_action=action,
        progress=not args.no_progress,
    )
    data = {"source": title, **res.to_dict()}
    write_json(ensure_dir(out) / "alignment.json", data)
    what = f"MNIST test digits on a {size} px canvas" if dataset.startswith("mnist") else f"{dataset} test images"
    plot_residual_vs_depth(res, out / "alignment.png", title=f"{title}; {what}")
    print(res.table())
    print(f"wrote {out / 'alignment.json'} and {out / 'alignment.png'}")


def run_alignment(args: argparse.Namespace) -> int:
    """``stnlab analyze alignment``."""

    out = out_folder(args, create=False)
    if args.run is not None:
        model, cfg = load_trained(args.run, "best")
        dataset, title = cfg.dataset, f"{cfg.model} on {cfg.dataset} (trained run {Path(args.run).name}), its CNN"
        spec, options = run_spec(args, cfg), cfg.data_options()
    else:
        spec = dataset_spec(args.dataset, cache_dir=args.cache_dir)
        torch.manual_seed(args.seed)
        model, dataset, options = create_model(args.model, spec), args.dataset, None
        title = f"{args.model} for {dataset}, random weights (seed {args.seed})"
    _alignment(args, model, dataset, spec.image_size, out, title, options)
    return 0


def run_filters(args: argparse.Namespace) -> int:
    """``stnlab analyze filters``."""

    out = out_folder(args, create=False)
    if args.filters < 1 or not 3 <= args.size <= 28:
        raise StnlabError(
            f"--filters must be >= 1 and --size in 3..28 (the 28 px digits), got {args.filters}, {args.size}"
        )
    images, _ = test_images(args, "mnist", 28)
    rows = filter_check(
        images,
        args.transforms,
        n_filters=args.filters,
        size=args.size,
        seed=args.seed,
        radius=args.radius,
        steps=args.steps,
    )
    two = two_channel_example(images, radius=args.radius, steps=args.steps)
    write_json(ensure_dir(out) / "filters.json", {"rows": rows, "two_channel": two, "num_images": int(images.shape[0])})
    title = (f"one-layer networks of {args.filters} {args.size}x{args.size} filters per kind, "
             f"{images.shape[0]} MNIST test digits (28 px)")  # fmt: skip
    plot_filter_check(rows, out / "filters.png", title=title)
    print(f"{'filters':<8}{'transform':<10}{'filter':>9}{'none':>9}{'inverse':>9}{'optimum':>9}")
    for r in rows:
        print(
            f"{r['filters']:<8}{r['transform']:<10}{r['filter_noninvariance']:>9.4f}{r['none']:>9.4f}"
            f"{r['inverse']:>9.4f}{r['optimum']:>9.4f}"
        )
    for name, r in two.items():
        print(f"two-channel W/M, rot180, {name:<17} inverse {r['inverse']:.4f}  optimum {r['optimum']:.4f}")
    print(f"wrote {out / 'filters.json'} and {out / 'filters.png'}")
    return 0


def _compensation(args: argparse.Namespace) -> tuple[Any, Any, Tensor, Path]:
    """Load the run, measure compensation, write its JSON and figures; return what ``figures`` reuses."""

    if args.out is not None:
        check_creatable(args.out, "--out")  # before the run and the data are loaded
    model, cfg = load_trained(args.run_dir, args.checkpoint)  # on the CPU, wherever it was trained
    model.to(pick_device(args.device))
    images, labels = test_images(args, cfg.dataset, run_spec(args, cfg).image_size, cfg.data_options())
    out = out_folder(args, Path(args.run_dir) / "analysis")  # only once the run and the data are known good
    res = compensation(
        model, images, labels, kind=args.kind, values=args.values, st_index=args.st_index, progress=not args.no_progress
    )
    row = report_row(res, model=cfg.model, run=str(args.run_dir), budget=None, seed=cfg.seed,
                     depth=st_depths(model)[args.st_index])
    write_json(out / f"compensation_{args.kind}.json", make_report(
        [row], kind=args.kind, dataset=cfg.dataset, images=int(images.shape[0]), values=res.values))
    title = run_title(cfg, args)
    plot_compensation(res, out / f"compensation_{args.kind}.png", title=title)
    plot_error_vs_value(res, out / f"error_vs_{args.kind}.png", title=title)
    print(
        f"{cfg.model} {cfg.dataset} ST {args.st_index} ({args.kind}): slope {res.slope:.3f}, R^2 {res.r2:.3f}, "
        f"class std {res.class_std:.4g} (no compensation: {res.baseline_std:.4g})"
    )
    print(f"wrote compensation_{args.kind}.json/.png and error_vs_{args.kind}.png to {out}")
    return model, cfg, images, out


def run_compensation(args: argparse.Namespace) -> int:
    """``stnlab analyze compensation RUN_DIR``."""
    _compensation(args)
    return 0


def run_figures(args: argparse.Namespace) -> int:
    """``stnlab analyze figures RUN_DIR``: compensation, error vs value, ST grid and residual vs depth."""

    model, cfg, images, out = _compensation(args)
    values = args.values or list(get_kind(args.kind).default_values)
    grid_values = [
        values[i] for i in sorted({0, len(values) // 4, len(values) // 2, 3 * len(values) // 4, len(values) - 1})
    ]
    shown, aligned = aligned_views(model, images[:6], args.kind, grid_values, args.st_index)
    plot_st_grid(shown, aligned, grid_values, out / f"st_grid_{args.kind}.png", args.kind, run_title(cfg, args))
    print(f"wrote st_grid_{args.kind}.png to {out}")
    model.cpu()  # the alignment optimiser runs on the CPU
    _alignment(args, model, cfg.dataset, run_spec(args, cfg).image_size, out, f"{run_title(cfg, args)}, its CNN",
               cfg.data_options())
    return 0
