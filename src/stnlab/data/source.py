"""`BatchSource`: deterministic, shardable, resumable batches of a data set split.

Subclasses implement :meth:`BatchSource.render` (the images, labels and transform parameters of a set
of sample indices for one epoch). This base class does the ordering:

* the epoch order is ``permutation(key(seed, dataset, split, "order", epoch))`` when shuffling, else
  ``0..N-1``; global batch ``g`` is ``order[g * B:(g + 1) * B]``;
* rank ``r`` of ``w`` takes global batches ``r, r + w, r + 2w, ...``; every rank gets
  ``num_batches(B, world_size=w) = floor(global batches / w)`` batches (the last ``global % w`` batches
  of an epoch are left out when ``w > 1``, so that all ranks step together);
* random transforms are drawn per *sample* from ``(seed, dataset, split, epoch, sample index)``
  (see :mod:`stnlab.data.rng`), so a batch is bit-identical however it is reached (``start_batch``,
  another rank layout, or :func:`as_torch_dataset`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

import torch
from torch import Tensor
from torch.utils.data import Dataset

from stnlab.data.rng import make_key, permutation
from stnlab.errors import StnlabError

SPLITS = ("train", "val", "test")


class Batch(NamedTuple):
    """One batch: ``images`` float32 ``B x C x H x W`` in [0, 1]; ``labels`` int64 ``(B,)`` or ``(B, 5)``;
    ``params`` a dict of per-sample tensors (or None); ``index`` int64 ``(B,)`` sample indices in the split."""

    images: Tensor
    labels: Tensor
    params: dict[str, Tensor] | None
    index: Tensor


class BatchSource:
    """Base class of every data set split (see the module docstring for the ordering rules)."""

    dataset: str
    split: str
    seed: int
    num_samples: int
    image_shape: tuple[int, int, int]
    num_classes: int
    label_shape: tuple[int, ...] = ()
    # the training split draws random transforms that a warm-up can ramp in (the MNIST protocols, plankton's
    # augmentation); the config refuses ``transform_warmup`` for the others
    ramps_transforms: bool = False
    # the training split's own augmentation rotates (plankton): ``set_rotation_limit`` can narrow its range
    augment_rotates: bool = False

    def __init__(self, dataset: str, split: str, seed: int) -> None:
        if split not in SPLITS:
            raise StnlabError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
        self.dataset, self.split, self.seed = dataset, split, int(seed)
        self.device = torch.device("cpu")
        self.warmup_epochs = 0.0
        self.rotation_limit = 180.0

    def set_warmup(self, epochs: float) -> BatchSource:
        """Ramp the random transforms in over the first ``epochs`` epochs: epoch ``e`` is rendered at amplitude
        ``min(1, e / epochs)`` (epoch 0 untransformed; the subclass scales its draws); 0 turns it off.
        A pure function of the epoch, so any batch is still reproduced exactly. Returns ``self``."""
        if epochs < 0 or not math.isfinite(epochs):
            raise StnlabError(f"warm-up epochs must be a finite number >= 0, got {epochs!r}")
        if epochs > 0 and not self.ramps_transforms:
            raise StnlabError(f"{self.dataset} draws no random transforms to ramp in; use transform_warmup=0")
        self.warmup_epochs = float(epochs)
        return self

    def set_rotation_limit(self, degrees: float) -> BatchSource:
        """Draw the training augmentation's rotation from ``±degrees`` instead of the data set's full range
        (a data set with an augmentation of its own: plankton, ``±180``); its other draws stay as they are
        (the same random numbers). 0: no rotation. Returns ``self``."""
        if not self.augment_rotates:
            raise StnlabError(f"{self.dataset} draws no augmentation rotation to limit; leave augment_rotation unset")
        if not 0 <= degrees <= 180:
            raise StnlabError(f"the augmentation's rotation limit must be in 0..180 degrees, got {degrees!r}")
        self.rotation_limit = float(degrees)
        return self

    def amplitude(self, epoch: int) -> float:
        """The transform amplitude of ``epoch`` (1 unless a warm-up is set)."""
        return min(1.0, epoch / self.warmup_epochs) if self.warmup_epochs > 0 else 1.0

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(dataset={self.dataset!r}, split={self.split!r}, seed={self.seed}, "
            f"num_samples={self.num_samples}, image_shape={self.image_shape})"
        )

    def epoch_key(self, epoch: int, purpose: str = "transform") -> int:
        """The 64-bit RNG key of ``(seed, dataset, split, purpose, epoch)``."""
        return make_key(self.seed, self.dataset, self.split, purpose, int(epoch))

    def render(self, index: Tensor, epoch: int) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Images ``B x C x H x W`` (float32 in [0, 1]), labels and params of samples ``index``."""
        raise NotImplementedError

    def to(self, device: str | torch.device) -> BatchSource:
        """Deliver batches on ``device`` (rendered on the CPU and copied; sources that can render on the
        device override this). Returns ``self``."""
        self.device = torch.device(device)
        return self

    def num_batches(self, batch_size: int, *, drop_last: bool = False, world_size: int = 1) -> int:
        """Batches per epoch on each of ``world_size`` ranks (the same on every rank)."""
        _check_positive(batch_size=batch_size, world_size=world_size)
        n = self.num_samples
        total = n // batch_size if drop_last else math.ceil(n / batch_size)
        return total // world_size

    def order(self, epoch: int, shuffle: bool) -> Tensor:
        """The sample order of an epoch (int64 ``(N,)``)."""
        if not shuffle:
            return torch.arange(self.num_samples)
        return permutation(self.epoch_key(epoch, "order"), self.num_samples)

    def batches(
        self,
        batch_size: int,
        *,
        epoch: int = 0,
        shuffle: bool | None = None,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        start_batch: int = 0,
        return_params: bool = False,
    ) -> Iterator[Batch]:
        """Yield this rank's batches of ``epoch`` from its ``start_batch``-th on."""
        _check_positive(batch_size=batch_size, world_size=world_size)
        if not 0 <= rank < world_size:
            raise StnlabError(f"rank {rank} is outside 0..{world_size - 1}; pass 0 <= rank < world_size")
        if start_batch < 0:
            raise StnlabError(f"start_batch must be >= 0, got {start_batch}")
        shuffle = self.split == "train" if shuffle is None else shuffle
        order = self.order(epoch, shuffle)
        for k in range(start_batch, self.num_batches(batch_size, drop_last=drop_last, world_size=world_size)):
            g = rank + k * world_size
            index = order[g * batch_size : (g + 1) * batch_size]
            images, labels, params = self.render(index, epoch)
            if images.device != self.device:
                images, labels = images.to(self.device), labels.to(self.device)
            yield Batch(images, labels, params if return_params else None, index)


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if int(value) < 1:
            raise StnlabError(f"{name} must be a positive integer, got {value}")


class SourceDataset(Dataset):
    """A ``torch.utils.data.Dataset`` view of one epoch of a :class:`BatchSource`.

    ``dataset[i] == (image C x H x W, label)`` equals sample ``i`` of any batch of that epoch.
    """

    def __init__(self, source: BatchSource, epoch: int = 0) -> None:
        self.source, self.epoch = source, epoch

    def __len__(self) -> int:
        return self.source.num_samples

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} samples")
        images, labels, _ = self.source.render(torch.tensor([i % len(self)]), self.epoch)
        return images[0], labels[0]


def as_torch_dataset(source: BatchSource, epoch: int = 0) -> SourceDataset:
    """A map-style ``torch.utils.data.Dataset`` of ``source`` for ``epoch`` (for DataLoader users)."""
    return SourceDataset(source, epoch)


__all__ = ["SPLITS", "Batch", "BatchSource", "SourceDataset", "as_torch_dataset"]
