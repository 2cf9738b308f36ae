"""Helpers shared by several test modules: the CLI's one-line-error check and a synthetic SVHN writer."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from stnlab.cli import main


def cli_error(capsys, *argv: str) -> str:
    """Run the CLI in-process; assert exit 2 and a one-line error; return that line."""
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert err.startswith("stnlab: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


FIELDS = ("label", "left", "top", "width", "height")


def write_digitstruct(path: Path, records: list[tuple[str, list[dict[str, float]]]], skip: str = "") -> None:
    """Write ``records`` as MATLAB 7.3 stores the format-1 struct (one reference per value when > 1 digit)."""
    ref = h5py.ref_dtype
    with h5py.File(path, "w") as f:
        g, pool = f.create_group("digitStruct"), f.create_group("#refs#")
        names = g.create_dataset("name", (len(records), 1), dtype=ref)
        boxes = g.create_dataset("bbox", (len(records), 1), dtype=ref)
        for i, (name, digits) in enumerate(records):
            names[i, 0] = pool.create_dataset(f"n{i}", data=np.array([[ord(c)] for c in name], np.uint16)).ref
            box = pool.create_group(f"b{i}")
            for key in FIELDS:
                if key == skip:
                    continue
                values = [d[key] for d in digits]
                if len(values) == 1:
                    box.create_dataset(key, data=np.array([[values[0]]], dtype=np.float64))
                else:
                    d = box.create_dataset(key, (len(values), 1), dtype=ref)
                    for j, v in enumerate(values):
                        d[j, 0] = pool.create_dataset(f"b{i}_{key}_{j}", data=np.array([[v]], np.float64)).ref
            boxes[i, 0] = box.ref


def digit(label: float, left: float, top: float, width: float = 10, height: float = 20) -> dict[str, float]:
    return {"label": label, "left": left, "top": top, "width": width, "height": height}


# union x 20..40, y 10..32 -> enlarged by 30% about (30, 21): (17, 6.7, 43, 35.3) -> (17, 7, 43, 35)
TWO = [digit(1, 20, 10), digit(10, 30, 12)]
BOX = (17, 7, 43, 35)


def make_split(folder: Path, n: int, first_label: int = 1) -> None:
    """``n`` images: the enlarged digit box is red, the rest white; one 6-digit number (dropped)."""
    folder.mkdir(parents=True)
    records = []
    for i in range(n):
        im = Image.new("RGB", (60, 45), (255, 255, 255))
        im.paste((255, 0, 0), BOX)
        im.save(folder / f"{i + 1}.png")
        records.append((f"{i + 1}.png", [digit((first_label + i) % 10 or 10, 20, 10), digit(10, 30, 12)]))
    Image.new("RGB", (80, 30)).save(folder / "long.png")
    records.append(("long.png", [digit(d, 2 + 12 * d, 5) for d in range(1, 7)]))
    write_digitstruct(folder / "digitStruct.mat", records)
