"""``stnlab data status|fetch|import|prepare|show``: inspect and fill the data root, build caches, look."""

from __future__ import annotations

import argparse

from stnlab import data
from stnlab.errors import StnlabError


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


def _show(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from stnlab.io import atomic_path, check_creatable

    if args.n < 1:
        raise StnlabError(f"--n must be at least 1, got {args.n}")
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise StnlabError(f"--out {out} must end in .png or .jpg")
    check_creatable(out, "--out")
    source = data.make_source(args.dataset, args.split, root=args.root, cache_dir=args.cache_dir, seed=args.seed)
    batch = next(source.batches(args.n, epoch=args.epoch))
    images = (batch.images.clamp(0, 1) * 255).round().byte()  # B x C x H x W
    cols = min(len(images), 8)
    rows = -(-len(images) // cols)
    c, h, w = images.shape[1:]
    grid = np.zeros((rows * (h + 2), cols * (w + 2), c), dtype=np.uint8)
    for i, img in enumerate(images.permute(0, 2, 3, 1).numpy()):
        y, x = divmod(i, cols)
        grid[y * (h + 2) + 1 : y * (h + 2) + 1 + h, x * (w + 2) + 1 : x * (w + 2) + 1 + w] = img
    fmt = "PNG" if out.suffix.lower() == ".png" else "JPEG"
    with atomic_path(out) as tmp:
        Image.fromarray(grid[..., 0] if c == 1 else grid).save(tmp, format=fmt)
    print(f"wrote {out}: {len(images)} {args.dataset} {args.split} images (epoch {args.epoch}), "
          f"labels {batch.labels.tolist()}")  # fmt: skip
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
    p.add_argument("name", choices=data.manage.DATASETS)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_fetch)
    p = sub.add_parser("import", parents=[common], help="validate local files and copy them into the data root")
    p.add_argument("name", choices=data.manage.DATASETS)
    p.add_argument("path", help="folder (or archive) holding the data set's files")
    p.set_defaults(func=_import)
    p = sub.add_parser("prepare", parents=[common], help="decode a data set into the cache now (plankton, svhn)")
    p.add_argument("name", choices=data.manage.DATASETS)
    p.add_argument("--cache-dir", help="cache folder (default: $STNLAB_CACHE or ~/.cache/stnlab/cache)")
    p.set_defaults(func=_prepare)
    p = sub.add_parser("show", parents=[common], help="save a grid of a data set's images (as models see them)")
    p.add_argument("dataset", help="mnist, mnist-rot, mnist-trans, mnist-scale, plankton or svhn")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--epoch", type=int, default=0, help="epoch (test pass) whose transforms to show")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n", type=int, default=16, help="number of images")
    p.add_argument("--out", default="samples.png", help="PNG or JPEG file to write")
    p.add_argument("--cache-dir", help="cache folder (default: $STNLAB_CACHE or ~/.cache/stnlab/cache)")
    p.set_defaults(func=_show)
