"""PlanktonSet 1.0 (NDSB), the registered data set ``plankton``: its facts, splits, augmentation and source.

Its facts, stated once here: 1 x 95 x 95 grey images (:mod:`stnlab.data.plankton_files` decodes the Kaggle
training images), 121 classes (the folder names); no protocols (its training split draws the authors'
augmentation, which ``transform_warmup`` ramps in); the run-config defaults of the paper's budget.

Splits: per class, a fixed permutation (key ``make_key("plankton-split", SPLIT_SEED, class)``) gives
``round(10%)`` test, ``round(10%)`` val (each at least 1 for classes of >= 3 images), the rest train.
Training batches are augmented as the authors did: rotation ``U(-180, 180)`` degrees, translation
``U(-10, 10)`` px per axis, shear ``U(-20, 20)`` degrees, scale log-uniform in ``[1/1.3, 1.3]`` and a
horizontal flip with probability 1/2, all in one warp; val/test are not augmented. Params: ``angle``
(counter-clockwise on screen), ``scale``, ``shear`` (the factor ``tan(shear angle)``), ``flip`` (1.0 when
flipped), ``tx``, ``ty``; the content map is ``affine_matrix(-angle, (scale * (1 - 2 flip), scale), (tx, ty),
shear)`` and ``matrix`` (the sampling matrix given to ``warp``) is its inverse, built by
``stnlab.geometry.out_to_in_from_content`` as for the MNIST protocols.
"""

from __future__ import annotations

import math
import tarfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from stnlab.data.dataspec import DataSpec
from stnlab.data.paths import cache_root, copy_into, data_root
from stnlab.data.plankton_files import (
    BAD_IMAGE_ERRORS,
    SIZE,
    TAR_NAME,
    PlanktonArrays,
    decode,
    load_plankton,
    plankton_location,
    preprocess,
)
from stnlab.data.rng import make_key, permutation, uniform
from stnlab.data.source import BatchSource
from stnlab.data.spec import DatasetInfo, SourceOptions, register_dataset
from stnlab.errors import StnlabError
from stnlab.geometry import out_to_in_from_content, pixels_to_normalized, warp

SPLIT_SEED = 0
VAL_FRACTION = TEST_FRACTION = 0.1


def split_indices(labels: np.ndarray, classes: list[str], *, salt: str = "plankton-split",
                  holdout: tuple[str, ...] = ("test", "val")) -> dict[str, Tensor]:
    """Stratified train/val/test indices (int64) into the decoded array: train sorted, val/test in a fixed
    mixed order.

    Per class, a fixed permutation (key ``make_key(salt, SPLIT_SEED, class name)``) puts ``round(10%)``
    of the images (at least 1, for classes of >= 3 images) into each split of ``holdout``, the rest into
    train; a split not in ``holdout`` is empty (the user's data sets reuse this rule for missing splits).
    """
    out: dict[str, list[Tensor]] = {"train": [], "val": [], "test": []}
    labels_t = torch.from_numpy(np.asarray(labels))
    for c, name in enumerate(classes):
        members = torch.nonzero(labels_t == c)[:, 0]
        members = members[permutation(make_key(salt, SPLIT_SEED, name), len(members))]
        n = len(members)
        n_test = max(1, round(TEST_FRACTION * n)) if n >= 3 and "test" in holdout else 0
        n_val = max(1, round(VAL_FRACTION * n)) if n >= 3 and "val" in holdout else 0
        out["test"].append(members[:n_test])
        out["val"].append(members[n_test : n_test + n_val])
        out["train"].append(members[n_test + n_val :])
    # train in file order (its batches are shuffled anyway); val/test in a fixed mixed order, so that their
    # first N samples (``val_samples``, a budget's ``eval_samples``, an ST grid's images) span the classes
    splits = {k: torch.cat(v).sort().values for k, v in out.items()}
    for k in ("val", "test"):
        splits[k] = splits[k][permutation(make_key(salt + "-order", SPLIT_SEED, k), len(splits[k]))]
    return splits


def augmentation(key: int, index: Tensor, amplitude: float = 1.0, max_angle: float = 180.0) -> dict[str, Tensor]:
    """The authors' training augmentation of samples ``index``: params and the sampling ``matrix``.

    ``amplitude`` in [0, 1] shrinks every draw toward the image as it is (the same random numbers): the
    angle, shift, shear angle and log-scale are multiplied by it and the flip probability is ``amplitude / 2``;
    1 is the authors' augmentation, 0 none (``transform_warmup``). ``max_angle`` (degrees, the authors': 180)
    narrows the rotation alone to ``±max_angle`` (``augment_rotation``), on the same random numbers."""
    u = uniform(key, index, 6).float()  # B x 6
    angle = (u[:, 0] * 2 - 1) * (math.pi * (max_angle / 180.0) * amplitude)
    shift = (u[:, 1:3] * 2 - 1) * (10.0 * amplitude)  # B x 2, pixels
    tx, ty = pixels_to_normalized(shift, SIZE).unbind(1)
    shear = torch.tan((u[:, 3] * 2 - 1) * math.radians(20.0 * amplitude))
    scale = torch.exp((u[:, 4] * 2 - 1) * (math.log(1.3) * amplitude))
    flip = (u[:, 5] < 0.5 * amplitude).float()
    out_to_in = out_to_in_from_content(SIZE, angle=angle, scale=(scale * (1 - 2 * flip), scale), shear=shear,
                                       shift=(shift[:, 0], shift[:, 1]))  # fmt: skip
    return {"angle": angle, "scale": scale, "shear": shear, "flip": flip, "tx": tx, "ty": ty, "matrix": out_to_in}


class PlanktonSource(BatchSource):
    """A split of PlanktonSet: ``1 x 95 x 95`` images, 121 classes; train batches augmented (ramped in over the
    first epochs with :meth:`set_warmup`)."""

    ramps_transforms = True
    augment_rotates = True

    def __init__(self, split: str = "train", options: SourceOptions | None = None) -> None:
        o = options or SourceOptions()
        super().__init__("plankton", split, o.seed)
        self.arrays = load_plankton(o.root, o.cache_dir, strict=o.strict)
        self.indices = split_indices(self.arrays.labels, self.arrays.classes)[split]
        self.labels = torch.from_numpy(self.arrays.labels)[self.indices]
        self.classes = self.arrays.classes
        self.num_classes = len(self.classes)
        self.num_samples = len(self.indices)
        self.image_shape = (1, SIZE, SIZE)

    def render(self, index: Tensor, epoch: int) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Images ``B x 1 x 95 x 95``, labels and params (augmented on the train split only)."""
        index = torch.as_tensor(index, dtype=torch.long)
        rows = self.indices[index].numpy()
        images = torch.from_numpy(np.ascontiguousarray(self.arrays.images[rows])).float().div_(255.0)[:, None]
        if self.split == "train":
            params = augmentation(self.epoch_key(epoch), index, self.amplitude(epoch), self.rotation_limit)
            images = warp(images, params["matrix"]).clamp_(0.0, 1.0)
        else:
            b = len(index)
            zero = torch.zeros(b)
            params = {"angle": zero, "scale": torch.ones(b), "shear": zero, "flip": zero, "tx": zero,
                      "ty": zero, "matrix": torch.eye(3).expand(b, 3, 3).clone()}  # fmt: skip
        return images, self.labels[index], params


def plankton_status(root: str | Path | None = None) -> tuple[bool, str]:
    """(ok, one-line description) of the PlanktonSet files in the data root."""
    try:
        location = plankton_location(root)
    except StnlabError as err:
        return False, str(err)
    if location.is_dir():
        classes = [p for p in location.iterdir() if p.is_dir()]
        n = sum(1 for c in classes for f in c.iterdir() if f.is_file())
    else:
        try:
            with tarfile.open(location) as tar:
                files = [m.name for m in tar if m.isfile()]
        except (tarfile.TarError, OSError, EOFError) as err:
            return False, f"{location} is not a readable tar ({err}); replace it"
        classes, n = {f.rsplit("/", 2)[-2] for f in files if f.count("/") >= 1}, len(files)
    return n > 0, f"{location}: {n} files in {len(classes)} class folders"


def import_plankton(path: Path, root: str | Path | None = None) -> list[Path]:
    """Validate every image at ``path`` (the tar, or a folder of class folders, or one holding ``train/``) and
    copy it into the data root (unreadable images are counted in a warning)."""
    from_folder = path / "train" if (path / "train").is_dir() else path
    decode(from_folder)
    return [copy_into(from_folder, data_root(root) / "plankton" / (TAR_NAME if path.is_file() else "train"))]


def prepare_plankton(root: str | Path | None = None, cache_dir: str | Path | None = None) -> str:
    """Build the decoded cache now; a summary line."""
    arrays = load_plankton(root, cache_dir)
    return (f"plankton: {len(arrays.labels)} images in {len(arrays.classes)} classes cached in "
            f"{cache_root(cache_dir)} ({len(arrays.skipped)} unreadable skipped)")


def _fetch(root: str | Path | None, progress: bool) -> str:
    plankton_location(root)  # raises with the instructions when absent: Kaggle needs a login
    return "plankton already present"


PLANKTON = register_dataset(DatasetInfo(
    # the KTH plankton CNN; the loc-net is our choice (the papers do not give it)
    DataSpec("plankton", (1, SIZE, SIZE), 121, (), backbone="plankton", loc_net="ndsb", augmented=True,
             defaults={"epochs": 100, "weight_decay": 5e-4, "loc_lr_multiplier": 0.1}),
    source=lambda name, split, options: PlanktonSource(split, options),
    splits="per class, seeded: 10 % test, 10 % val (at least 1 each for classes of >= 3 images), the rest train",
    status=plankton_status, fetch=_fetch, import_files=import_plankton, prepare=prepare_plankton,
))

__all__ = ["BAD_IMAGE_ERRORS", "PLANKTON", "TAR_NAME", "PlanktonArrays", "PlanktonSource", "decode",
           "load_plankton", "plankton_location", "plankton_status", "preprocess", "split_indices"]
