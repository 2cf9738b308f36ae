"""Image files to uint8 arrays, with one channel count for a whole data set and stated conversion rules.

Rules (the ``folder:`` data sets; each conversion is counted and reported in one summary line):

* 16-bit (and 32-bit integer) grey (PIL modes ``I;16*``, ``I``): values 0..65535 are divided by 257 and
  rounded to 0..255 (PIL's own conversion would clip them at 255, i.e. binarise the image).
* Alpha (``LA``, ``RGBA``, a palette with transparency): composited onto black (``value * alpha / 255``),
  so a transparent background becomes the black background the protocols pad with.
* Other colour spaces (``CMYK``, ``YCbCr``, ``LAB``, ``HSV``, palettes): PIL's conversion to RGB.
* An RGB image whose channels differ by at most :data:`GREY_TOLERANCE` levels everywhere is grey.
* The data set is grey when at most half of its images are colour, else colour: colour images of a grey
  data set become grey by ITU-R 601 luma (``0.299 R + 0.587 G + 0.114 B``, PIL's ``L``), grey images of
  a colour data set are copied into the three channels.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from PIL import Image

SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")
ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")
GREY_TOLERANCE = 2


def _luma(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb, "RGB").convert("L"), dtype=np.uint8)


def image_array(im: Image.Image, done: Counter) -> np.ndarray:
    """One image as uint8 ``H x W`` (grey) or ``H x W x 3`` (colour); adds what was converted to ``done``."""
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in SIXTEEN_BIT:
        done["16-bit grey scaled to 8 bit (value / 257)"] += 1
        return np.round(np.clip(np.asarray(im, dtype=np.float64), 0, 65535) / 257).astype(np.uint8)
    if im.mode in ("1", "L", "F"):
        return np.asarray(im.convert("L"), dtype=np.uint8)
    if im.mode in ALPHA_MODES:
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float64)
        alpha = rgba[..., 3:] / 255
        if (alpha < 1).any():
            done[f"{im.mode} with transparency composited onto black"] += 1
        rgb = np.round(rgba[..., :3] * alpha).astype(np.uint8)
    else:
        if im.mode != "RGB":
            done[f"{im.mode} converted to RGB"] += 1
        rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
    spread = rgb.max(-1).astype(np.int16) - rgb.min(-1)
    return _luma(rgb) if spread.max(initial=0) <= GREY_TOLERANCE else rgb


def to_channels(images: list[Image.Image], where: str) -> tuple[list[np.ndarray], list[str]]:
    """``C x H x W`` uint8 arrays of ``images``, all with the data set's channel count (see the module
    docstring), and the notes: one summary line of what was converted (none when nothing was)."""
    done: Counter = Counter()
    arrays = [image_array(im, done) for im in images]
    n_colour = sum(a.ndim == 3 for a in arrays)
    colour = 2 * n_colour > len(arrays)
    out = []
    for a in arrays:
        if colour and a.ndim == 2:
            done["grey copied to the 3 channels"] += 1
            a = np.repeat(a[..., None], 3, axis=-1)
        elif not colour and a.ndim == 3:
            done["colour to grey by luma 0.299 R + 0.587 G + 0.114 B"] += 1
            a = _luma(a)
        out.append(a.transpose(2, 0, 1) if a.ndim == 3 else a[None])
    if not done:
        return out, []
    kind = f"colour (3 channels: {n_colour} of {len(arrays)} images are colour)" if colour else \
        f"grey (1 channel: {len(arrays) - n_colour} of {len(arrays)} images are grey)"
    what = ", ".join(f"{n} {rule}" for rule, n in sorted(done.items()))
    return out, [f"{where}: read as {kind}; converted: {what}"]


__all__ = ["image_array", "to_channels"]
