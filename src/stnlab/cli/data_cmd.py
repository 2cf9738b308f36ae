"""``stnlab data status|fetch|import|prepare|show``: inspect and fill the data root, build caches, look."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from stnlab import data
from stnlab.analysis.figures import image_grid_figure, save_figure
from stnlab.errors import StnlabError
from stnlab.io import check_creatable
from stnlab.train import build_config, parse_sets


def _status(args: argparse.Namespace) -> int:
    print(f"data root: {data.data_root(args.root)}  (STNLAB_DATA)")
    print(f"cache:     {data.cache_root(args.cache_dir)}  (STNLAB_CACHE)")
    for name, ok, line in data.status(args.root):
        print(f"{name:<9} {'ok' if ok else 'MISSING':<8} {line}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    print(data.fetch(args.name, args.root, progress=not args.quiet))
    return 0


def _import(args: argparse.Namespace) -> int:
    for path in data.import_data(args.name, args.path, args.root):
        print(f"imported {path}")
    return 0


def _prepare(args: argparse.Namespace) -> int:
    print(data.manage.prepare(args.name, args.root, args.cache_dir))
    return 0


DATA_KEYS = ("protocol", "image_size", "strict")


def data_options(dataset: str, sets: list[str]) -> dict:
    """``--set protocol=... image_size=... strict=...`` checked and typed as the run config does."""
    values = parse_sets(sets)
    other = sorted(set(values) - set(DATA_KEYS))
    if other:
        raise StnlabError(f"--set {', '.join(other)}: data show takes only {', '.join(DATA_KEYS)}")
    return build_config({"model": "CNN", "dataset": dataset, **values}).data_options()


def _spread(labels: Tensor, n: int, seed: int) -> Tensor:
    """``n`` sample indices across classes: classes in a seeded random order, one sample of each in turn
    (SVHN numbers are grouped by their digit count). Deterministic by ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    key = labels if labels.dim() == 1 else (labels != 10).sum(1)  # SVHN: 10 = no digit
    perm = torch.randperm(len(key), generator=gen)
    classes = key.unique()
    classes = classes[torch.randperm(len(classes), generator=gen)]
    members = [perm[key[perm] == c] for c in classes]
    picked = [m[r] for r in range(max(len(m) for m in members)) for m in members if r < len(m)]
    return torch.stack(picked[:n])


def _caption(source: Any, label: Tensor, params: dict[str, Tensor], i: int, varying: list[str]) -> str:
    """``class`` on the first line, the applied transform (the params that vary in the batch) on the second."""
    if label.dim():  # SVHN: the digits left to right
        name = "".join(str(int(d)) for d in label if d != 10) or "-"
    else:
        classes = getattr(source, "classes", None)
        name = classes[int(label)][:22] if classes else f"digit {int(label)}"
    parts, width = [], source.image_shape[-1]
    if "angle" in varying:
        parts.append(f"rot {math.degrees(float(params['angle'][i])):+.0f}°")
    if "scale" in varying:
        parts.append(f"×{float(params['scale'][i]):.2f}")
    if "tx" in varying or "ty" in varying:
        dx, dy = (float(params[k][i]) * width / 2 for k in ("tx", "ty"))
        parts.append(f"shift {round(dx):+d},{round(dy):+d} px")
    if "flip" in varying and float(params["flip"][i]):
        parts.append("flip")
    if not parts:
        return f"{name}\nno transform"
    return "\n".join([name, " ".join(parts[:2]), " ".join(parts[2:])]).rstrip("\n")


def _show(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise StnlabError(f"--n must be at least 1, got {args.n}")
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise StnlabError(f"--out {out} must end in .png or .jpg")
    check_creatable(out, "--out")
    options = data_options(args.dataset, args.sets)
    source = data.make_source(args.dataset, args.split, root=args.root, cache_dir=args.cache_dir, seed=args.seed,
                              **options)
    index = _spread(source.labels, min(args.n, source.num_samples), args.seed)
    images, labels, params = source.render(index, args.epoch)
    varying = [k for k, v in params.items() if k != "matrix" and v.dim() == 1 and len(v) and (v != v[0]).any()]
    captions = [_caption(source, labels[i], params, i, varying) for i in range(len(index))]
    c, h, w = images.shape[1:]
    title = (f"{args.dataset}, {args.split} split, epoch {args.epoch}, seed {args.seed}: {len(index)} images "
             f"as the models see them ({c}x{h}x{w}), across classes")  # fmt: skip
    fmt = "png" if out.suffix.lower() == ".png" else "jpeg"
    save_figure(image_grid_figure(images, captions, title), out, fmt)
    names = getattr(source, "classes", None)
    shown = [names[i] for i in labels.tolist()] if names and labels.dim() == 1 else labels.tolist()
    what = f", protocol {options['protocol']}" if options["protocol"] != "none" else ""
    print(f"wrote {out}: {len(index)} {args.dataset} {args.split} images of {c} x {h} x {w} (epoch {args.epoch}"
          f"{what}), labels {shown}")  # fmt: skip
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``stnlab data`` and its sub-commands."""
    parser = subparsers.add_parser(
        "data", help="inspect, fetch and import data sets",
        description="Inspect, fetch, import and look at data sets. Only 'stnlab data fetch' downloads.",
    )  # fmt: skip
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-root", dest="root", help="data root (default: $STNLAB_DATA or ~/.cache/stnlab/data)")
    common.add_argument("--root", dest="root", help=argparse.SUPPRESS)  # the old name, kept working
    p = sub.add_parser("status", parents=[common], help="show which data sets are present and valid")
    p.add_argument("--cache-dir", help="cache folder (default: $STNLAB_CACHE or ~/.cache/stnlab/cache)")
    p.set_defaults(func=_status)
    p = sub.add_parser("fetch", parents=[common], help="download a data set (md5-checked) into the data root")
    p.add_argument("name", choices=data.root_names())
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_fetch)
    p = sub.add_parser("import", parents=[common], help="validate local files and copy them into the data root")
    p.add_argument("name", choices=data.root_names())
    p.add_argument("path", help="folder (or archive) holding the data set's files")
    p.set_defaults(func=_import)
    p = sub.add_parser("prepare", parents=[common], help="decode a data set into the cache now (plankton, svhn)")
    p.add_argument("name", choices=data.root_names())
    p.add_argument("--cache-dir", help="cache folder (default: $STNLAB_CACHE or ~/.cache/stnlab/cache)")
    p.set_defaults(func=_prepare)
    p = sub.add_parser("show", parents=[common], help="save a grid of a data set's images (as models see them)")
    p.add_argument("dataset", help=f"{', '.join(data.dataset_names())}, or your own data: folder:PATH, idx:PATH, "
                                   "npz:FILE")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--epoch", type=int, default=0, help="epoch (test pass) whose transforms to show")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n", type=int, default=16, help="number of images")
    p.add_argument("--out", default="samples.png", help="PNG or JPEG file to write")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help=f"data options as in training: protocol={'|'.join(data.protocols())}, image_size=N, "
                        "strict=true")
    p.add_argument("--cache-dir", help="cache folder (default: $STNLAB_CACHE or ~/.cache/stnlab/cache)")
    p.set_defaults(func=_show)
