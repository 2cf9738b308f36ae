"""Pack the data root for the GPU machine: the decoded PlanktonSet as a compact tar.xz, plus MNIST.

The device tool carries at most 64 MiB of working tree; the NDSB tar (64 MB of JPEGs) does not fit beside the
repository. This writes ``.devdata/`` (ignored by git): ``plankton/ndsb_train.tar.xz``, a tar of lossless
``train/<class>/<id>.pgm`` files holding ``255 - decoded`` (the photographed polarity), which
:func:`stnlab.data.plankton.decode` turns back into exactly the same arrays (it inverts, and a 95-pixel image
is neither shrunk nor padded again; the per-class order of the ids is unchanged, so the splits are too), and
``mnist/`` (the four IDX files as they are). ``scripts/device_run.sh`` unpacks it on the device.

    STNLAB_DATA=../shared/data python scripts/pack_device_data.py [--out .devdata] [--check]

``--check`` decodes the packed tar here and compares it with the data root's decoding (about a minute).
"""

from __future__ import annotations

import argparse
import io
import lzma
import shutil
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from stnlab.data.paths import data_root
from stnlab.data.plankton import decode, load_plankton


def pgm(image: np.ndarray) -> bytes:
    """A binary (P5) 8-bit PGM of a 2-D uint8 array."""
    h, w = image.shape
    return f"P5\n{w} {h}\n255\n".encode() + np.ascontiguousarray(image).tobytes()


def write_plankton(out: Path) -> Path:
    """``out/plankton/ndsb_train.tar.xz`` from the decoded data set; its path."""
    arrays = load_plankton()
    target = out / "plankton" / "ndsb_train.tar.xz"
    target.parent.mkdir(parents=True, exist_ok=True)
    with lzma.open(target, "wb", preset=6) as xz, tarfile.open(fileobj=xz, mode="w") as tar:
        for image, name in zip(arrays.images, arrays.names):
            data = pgm(255 - image)
            info = tarfile.TarInfo("train/" + name.rsplit(".", 1)[0] + ".pgm")
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    return target


def check(packed: Path) -> None:
    """Decode the packed tar and compare it with the data root's decoding; raise if anything differs."""
    reference = load_plankton()
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "ndsb_train.tar"
        with lzma.open(packed) as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst)
        got = decode(plain)
    same = np.array_equal(got.images, np.asarray(reference.images)) and np.array_equal(got.labels, reference.labels)
    stems = [n.rsplit(".", 1)[0] for n in got.names] == [n.rsplit(".", 1)[0] for n in reference.names]
    if not (same and stems and got.classes == reference.classes):
        raise SystemExit(f"{packed} does not decode to the data root's arrays")
    print(f"{packed}: decodes to the same {len(got.labels)} images, labels, classes and order")


def main() -> None:
    """Write ``.devdata`` (and check it)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=".devdata")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    packed = write_plankton(out)
    (out / "mnist").mkdir(parents=True, exist_ok=True)
    for f in sorted((data_root() / "mnist").glob("*-ubyte.gz")):
        shutil.copy2(f, out / "mnist" / f.name)
    print(f"wrote {packed} ({packed.stat().st_size / 2**20:.1f} MiB) and {out / 'mnist'}")
    if args.check:
        check(packed)


if __name__ == "__main__":
    main()
