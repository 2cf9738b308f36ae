"""SVHN multi-digit (format 1), the registered data set ``svhn``: the Goodfellow et al. / Jaderberg et al.
protocol.

Its facts, stated once here: 3 x 64 x 64 crops (:mod:`stnlab.data.svhn_files` reads and crops the files),
labels of 5 positions x 11 classes (10 digits and "no digit"), sequence error; no protocols, no augmentation
(params are identities); the run-config defaults of Jaderberg et al. Splits: ``train`` = train + extra minus
``val``; ``val`` = ``min(VAL_SIZE, 10%)`` images of train + extra chosen by a fixed permutation (key
``make_key("svhn-val", VAL_SEED)``); ``test`` = test. ``extra`` is used when present. Sequence error: a
number counts as right only when all 5 positions are (:func:`sequence_error`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from stnlab.data.dataspec import DataSpec
from stnlab.data.download import download_file
from stnlab.data.paths import cache_root, copy_into, data_root
from stnlab.data.rng import make_key, permutation
from stnlab.data.source import BatchSource
from stnlab.data.spec import DatasetInfo, SourceOptions, register_dataset
from stnlab.data.svhn_files import (
    MAX_DIGITS,
    SIZE,
    SPLITS,
    check_archive,
    crop_box,
    decode_split,
    load_split,
    read_digitstruct,
    split_location,
)
from stnlab.errors import StnlabError

VAL_SIZE = 6000
VAL_SEED = 0
URL = "http://ufldl.stanford.edu/housenumbers/{split}.tar.gz"


def fetch_svhn(root: str | Path | None = None, splits: tuple[str, ...] = SPLITS, *, progress: bool = True) -> Path:
    """Download the missing ``<split>.tar.gz`` archives into ``<root>/svhn`` (verified, atomic)."""
    base = data_root(root) / "svhn"
    for split in splits:
        if (base / split / "digitStruct.mat").is_file() or (base / f"{split}.tar.gz").is_file():
            continue
        try:
            download_file(
                [URL.format(split=split)], base / f"{split}.tar.gz",
                lambda p, s=split: check_archive(p, s), progress=progress,
            )  # fmt: skip
        except StnlabError as err:
            raise StnlabError(f"{err}; {missing_message(root)}") from None
    return base


def missing_message(root: str | Path | None) -> str:
    """Where to put SVHN."""
    base = data_root(root) / "svhn"
    return (
        f"put SVHN format 1 at {base}/{{train,test,extra}}/ (digitStruct.mat + PNGs) or {base}/train.tar.gz ..., "
        f"or run `stnlab data fetch svhn` / `stnlab data import svhn PATH`"
    )


class SVHNSource(BatchSource):
    """A split of SVHN multi-digit: ``3 x 64 x 64`` crops, labels ``(5,)`` of 11 classes."""

    num_classes = 11
    label_shape = (MAX_DIGITS,)

    def __init__(self, split: str = "train", options: SourceOptions | None = None) -> None:
        o = options or SourceOptions()
        super().__init__("svhn", split, o.seed)
        names = ("test",) if split == "test" else ("train", "extra")
        if o.download and split_location(names[0], o.root, o.cache_dir) is None:
            fetch_svhn(o.root, names)
        parts = {n: load_split(n, o.root, o.cache_dir) for n in names}
        if parts[names[0]] is None:
            raise StnlabError(f"SVHN {names[0]} split not found; {missing_message(o.root)}")
        self.parts = [p for p in parts.values() if p is not None]
        self.dropped = sum(p[2] for p in self.parts)
        sizes = torch.tensor([len(p[0]) for p in self.parts])
        self.offsets = torch.cumsum(sizes, 0) - sizes  # first global row of each part
        total = int(sizes.sum())
        if split == "test":
            self.rows = torch.arange(total)
        else:
            order = permutation(make_key("svhn-val", VAL_SEED), total)
            n_val = min(VAL_SIZE, total // 10)
            self.rows = (order[:n_val] if split == "val" else order[n_val:]).sort().values
        all_labels = torch.from_numpy(np.concatenate([p[1] for p in self.parts]))
        self.labels = all_labels[self.rows]
        self.num_samples = len(self.rows)
        self.image_shape = (3, SIZE, SIZE)

    def render(self, index: Tensor, epoch: int) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Crops ``B x 3 x 64 x 64`` in [0, 1], labels ``B x 5``, identity params."""
        index = torch.as_tensor(index, dtype=torch.long)
        rows = self.rows[index]
        part = torch.bucketize(rows, self.offsets, right=True) - 1  # which part holds each row
        images = torch.empty(len(rows), 3, SIZE, SIZE)
        for p, (crops, _, _) in enumerate(self.parts):  # at most 2 parts (train, extra)
            sel = torch.nonzero(part == p)[:, 0]
            if len(sel):
                local = (rows[sel] - self.offsets[p]).numpy()
                images[sel] = torch.from_numpy(np.ascontiguousarray(crops[local])).float() / 255.0
        b = len(index)
        params = {"matrix": torch.eye(3).expand(b, 3, 3).clone()}
        return images, self.labels[index], params


def sequence_correct(logits: Tensor, labels: Tensor) -> Tensor:
    """Per-sample bool ``(B,)``: all 5 predicted positions (argmax of ``B x 5 x 11`` logits) are right."""
    return (logits.argmax(-1) == labels).all(-1)


def sequence_error(logits: Tensor, labels: Tensor) -> float:
    """Fraction of numbers with at least one wrong position (the SVHN sequence error)."""
    return 1.0 - sequence_correct(logits, labels).float().mean().item()


def svhn_status(root: str | Path | None = None) -> tuple[bool, str]:
    """(ok, one-line description) of the SVHN files in the data root (train and test are both needed)."""
    base = data_root(root) / "svhn"
    found = []
    for split in SPLITS:
        if (base / split / "digitStruct.mat").is_file():
            found.append(f"{split}/ (folder)")
        elif (base / f"{split}.tar.gz").is_file():
            found.append(f"{split}.tar.gz")
    ok = any(f.startswith("train") for f in found) and any(f.startswith("test") for f in found)
    if not found:
        return False, f"SVHN not found; {missing_message(root)}"
    return ok, f"{base}: {', '.join(found)}" + ("" if ok else " (train and test are both needed)")


def import_svhn(path: Path, root: str | Path | None = None) -> list[Path]:
    """Validate the SVHN splits at ``path`` (``{train,test,extra}/digitStruct.mat`` folders or ``*.tar.gz``) and
    copy them into the data root."""
    copied = []
    base = data_root(root) / "svhn"
    for split in SPLITS:
        candidates = [path / split, path / f"{split}.tar.gz"] if path.is_dir() else [path]
        for cand in candidates:
            if cand.is_dir() and (cand / "digitStruct.mat").is_file():
                read_digitstruct(cand / "digitStruct.mat")
                copied.append(copy_into(cand, base / split))
            elif cand.is_file() and cand.name == f"{split}.tar.gz":
                check_archive(cand, split)
                copied.append(copy_into(cand, base / cand.name))
    if not copied:
        raise StnlabError(f"{path} holds no SVHN split ({{train,test,extra}}/digitStruct.mat or *.tar.gz)")
    return copied


def prepare_svhn(root: str | Path | None = None, cache_dir: str | Path | None = None) -> str:
    """Crop every split into the cache now; a summary line."""
    loaded = {split: load_split(split, root, cache_dir) for split in SPLITS}
    found = {k: v for k, v in loaded.items() if v is not None}
    if not found:
        raise StnlabError(f"SVHN not found; {missing_message(root)}")
    parts = ", ".join(f"{k} {len(v[0])} (dropped {v[2]})" for k, v in found.items())
    return f"svhn: {parts} cached in {cache_root(cache_dir)}"


SVHN = register_dataset(DatasetInfo(
    # Jaderberg et al.: loc-nets at lr x 0.1, weight decay 5e-4; 5 heads of 10 digits + "no digit"
    DataSpec("svhn", (3, SIZE, SIZE), 11, (*(str(i) for i in range(10)), "none"), num_heads=MAX_DIGITS,
             backbone="svhn", loc_net="small", defaults={"epochs": 40, "loc_lr_multiplier": 0.1, "weight_decay": 5e-4}),
    source=lambda name, split, options: SVHNSource(split, options),
    splits=f"train: train + extra minus val; val: min({VAL_SIZE}, 10 %) of train + extra (fixed permutation, seed "
           f"{VAL_SEED}); test: test",
    status=svhn_status,
    fetch=lambda root, progress: f"svhn ready in {fetch_svhn(root, progress=progress)}",
    import_files=import_svhn,
    prepare=prepare_svhn,
))

__all__ = ["SVHN", "SVHNSource", "check_archive", "crop_box", "decode_split", "fetch_svhn", "read_digitstruct",
           "sequence_correct", "sequence_error", "svhn_status"]
