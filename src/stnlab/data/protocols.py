"""The MNIST protocols of the papers, generated on the fly in batches.

=================  ======  =================================================================================
dataset            canvas  per-sample transform (content) and clutter
=================  ======  =================================================================================
``mnist``          28      none
``mnist-rot``      28      rotation by ``angle ~ U[-90, 90]`` degrees, bilinear
``mnist-trans``    60      digit centred (padding 16), shifted by whole pixels ``dx, dy ~ U{-16..16}``;
                           6 clutter patches: 6x6 crops of random training digits added at random places
``mnist-scale``    112     digit centred (padding 42), scaled by ``s = 2**U(-1, 2)`` (0.5x to 4x), bilinear;
                           6 clutter patches: a 6x6 crop resized to ``2k x 2k``, ``k ~ U{1..9}``
=================  ======  =================================================================================

Clutter is added after the digit is transformed, and the sum is clipped to [0, 1]. All of a batch is
made at once: R by one ``grid_sample``; T and S, whose warps are axis-aligned, by separable bilinear
weights (``image = K_y @ digit @ K_x^T``, equal to ``warp(padded digit, matrix)`` up to float rounding)
and the clutter patches are placed with one ``index_add_``. Clutter always comes
from the *training* digits (the train split, without the held-out validation images), for every split.

Splits: ``train`` = MNIST train minus ``val``; ``val`` = 10,000 MNIST train images chosen by a fixed
permutation (key ``make_key("mnist-val", VAL_SEED)``, independent of the source seed); ``test`` = MNIST test.
A test (or val) "pass" ``p`` is ``epoch=p``; the papers' test error is the mean over passes 0..9.

Params (``return_params=True``), all ``(B,)`` unless stated: ``angle`` (radians, content turned
counter-clockwise on screen), ``scale`` (content magnification), ``tx``, ``ty`` (content shift, normalised
units of the output canvas, + = right/down), ``matrix`` (``B x 3 x 3``: the *sampling* matrix, the map
from output to input coordinates; ``stnlab.geometry.warp(centred digit, matrix)`` gives the image).
``matrix`` is ``stnlab.geometry.out_to_in_from_content(canvas, angle=angle, scale=scale, shift=pixels)``:
with y pointing down the content map is ``affine_matrix(-angle, scale, (tx, ty))`` and ``matrix`` is its
inverse (for mnist-rot exactly ``rotation_matrix(angle)``; ``warp(image, rotation_matrix(-angle))`` undoes
it). T/S also give ``clutter_index`` (``B x 6``, indices into ``source.clutter_pool``).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from stnlab.data.mnist import load_mnist
from stnlab.data.rng import make_key, permutation, randint, uniform
from stnlab.data.source import BatchSource
from stnlab.errors import StnlabError
from stnlab.geometry import out_to_in_from_content, pixels_to_normalized, warp

VAL_SEED = 0
VAL_SIZE = 10000
CANVAS = {"mnist": 28, "mnist-rot": 28, "mnist-trans": 60, "mnist-scale": 112}
NUM_CLUTTER = 6
CROP = 6
MAX_SHIFT = 16
MAX_ANGLE = math.pi / 2
MAX_PATCH = 18  # largest resized clutter patch of mnist-scale (2 * 9)
_CLUTTER_STREAM = 16  # transform draws use streams 0..15, clutter draws 16..


def val_indices() -> tuple[Tensor, Tensor]:
    """(train indices, val indices) into MNIST train: the fixed, documented hold-out (sorted int64)."""
    order = permutation(make_key("mnist-val", VAL_SEED), 60000)
    return order[VAL_SIZE:].sort().values, order[:VAL_SIZE].sort().values


def tent(coord: Tensor, n: int) -> Tensor:
    """Bilinear weights ``coord.shape x n`` of sampling positions ``coord`` (pixel units) on pixels ``0..n-1``.

    Positions between pixels mix their two neighbours; taps outside ``0..n-1`` weigh nothing, exactly as
    ``grid_sample(..., padding_mode="zeros", align_corners=False)``.
    """
    w = coord[..., None] - torch.arange(n, dtype=coord.dtype)  # distance to each pixel
    return w.abs_().neg_().add_(1).clamp_(min=0)


def axis_weights(scale: Tensor, shift: Tensor, size: int, pad: int) -> Tensor:
    """``B x size x 28`` weights of one axis of an axis-aligned warp of a digit centred on a ``size`` canvas.

    ``scale``, ``shift`` (``(B,)``) are that axis' diagonal and translation entries of the sampling matrix.
    ``K_y @ digit @ K_x^T`` then equals ``warp(padded digit, matrix)`` (bilinear is separable).
    """
    out = (torch.arange(size) * 2 + 1) / size - 1  # normalised output coordinates
    inp = scale[:, None] * out + shift[:, None]  # B x size, normalised input coordinates
    return tent((inp + 1) * size / 2 - 0.5 - pad, 28)


def add_clutter(canvas: Tensor, pool: Tensor, key: int, index: Tensor, resize: bool) -> Tensor:
    """Add ``NUM_CLUTTER`` crops of random ``pool`` digits to ``canvas`` (``B x S x S``, in place).

    A patch is a random 6x6 crop; with ``resize`` it is resized to ``2k x 2k``, ``k`` uniform in 1..9
    (mnist-scale), as ``F.interpolate(mode="bilinear", align_corners=False)`` does; it lands at a uniform
    position where it fits. All patches are made by one batched product and added by one ``index_add_``.
    Returns the ``B x 6`` pool indices. The caller clips.
    """
    b, size = canvas.shape[0], canvas.shape[-1]
    n = b * NUM_CLUTTER
    # float64 on purpose: a float32 cast rounds draws above 1 - 2**-25 up to 1.0 (index past the end)
    draws = uniform(key, index, NUM_CLUTTER * 6, _CLUTTER_STREAM).reshape(n, 6)  # 6 draws a patch
    src = (draws[:, 0] * len(pool)).long()
    cy, cx = (draws[:, 1] * (29 - CROP)).long(), (draws[:, 2] * (29 - CROP)).long()
    ar = torch.arange(CROP)
    crops = pool[src[:, None, None], (cy[:, None] + ar)[:, :, None], (cx[:, None] + ar)[:, None, :]]  # n x 6 x 6
    frame = MAX_PATCH if resize else CROP
    side = 2 * (1 + (draws[:, 3] * 9).long()) if resize else torch.full((n,), CROP)
    rel = torch.arange(frame, dtype=torch.float32)[None, :]  # pixel inside the patch frame
    coord = ((rel + 0.5) * (CROP / side[:, None]) - 0.5).clamp(0, CROP - 1)  # n x F, edge-clamped
    k = tent(coord, CROP)  # n x F x 6
    patches = k @ (crops.float() / 255.0) @ k.transpose(1, 2)  # n x F x F (only side x side is used)
    y0 = (draws[:, 4] * (size - side + 1)).long()
    x0 = (draws[:, 5] * (size - side + 1)).long()
    ar = torch.arange(frame)
    owner = torch.arange(b).repeat_interleave(NUM_CLUTTER)
    flat = (owner[:, None, None] * size + y0[:, None, None] + ar[:, None]) * size + x0[:, None, None] + ar
    used = (ar[None, :, None] < side[:, None, None]) & (ar[None, None, :] < side[:, None, None])  # n x F x F
    canvas.view(-1).index_add_(0, flat[used], patches[used])
    return src.reshape(b, NUM_CLUTTER)


class MNISTSource(BatchSource):
    """A split of ``mnist``, ``mnist-rot``, ``mnist-trans`` or ``mnist-scale`` (see the module docstring)."""

    num_classes = 10

    def __init__(
        self,
        dataset: str,
        split: str = "train",
        *,
        root: str | Path | None = None,
        seed: int = 0,
        download: bool = True,
    ) -> None:
        if dataset not in CANVAS:
            raise StnlabError(f"unknown MNIST protocol {dataset!r}; use one of {', '.join(CANVAS)}")
        super().__init__(dataset, split, seed)
        train_images, train_labels = load_mnist("train", root, download=download)
        train_idx, val_idx = val_indices()
        if split == "test":
            self.images, self.labels = load_mnist("test", root, download=download)
        else:
            keep = train_idx if split == "train" else val_idx
            self.images, self.labels = train_images[keep], train_labels[keep]
        self.clutter_pool = train_images[train_idx]  # training digits only, for every split
        self.canvas = CANVAS[dataset]
        self.num_samples = len(self.images)
        self.image_shape = (1, self.canvas, self.canvas)

    def render(self, index: Tensor, epoch: int) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Images ``B x 1 x S x S``, labels ``(B,)`` and params of the samples ``index`` in ``epoch``."""
        index = torch.as_tensor(index, dtype=torch.long)
        b, key = len(index), self.epoch_key(epoch)
        digits = self.images[index].float().div_(255.0)[:, None]  # B x 1 x 28 x 28
        zero, one = torch.zeros(b), torch.ones(b)
        angle, scale, shift = zero, one, torch.zeros(b, 2)
        if self.dataset == "mnist-rot":
            angle = (uniform(key, index, 1)[:, 0].float() * 2 - 1) * MAX_ANGLE
        elif self.dataset == "mnist-trans":
            shift = randint(key, index, 2, 2 * MAX_SHIFT + 1).float() - MAX_SHIFT  # B x 2, whole pixels
        elif self.dataset == "mnist-scale":
            scale = torch.exp2(uniform(key, index, 1)[:, 0].float() * 3 - 1)
        out_to_in = out_to_in_from_content(self.canvas, angle=angle, scale=scale, shift=(shift[:, 0], shift[:, 1]))
        tx, ty = pixels_to_normalized(shift, self.canvas).unbind(1)
        params = {"angle": angle, "scale": scale, "tx": tx, "ty": ty, "matrix": out_to_in}
        if self.dataset == "mnist-rot":
            images = warp(digits, out_to_in)
        elif self.dataset == "mnist":
            images = digits
        else:
            # T and S warp the centred digit along the axes only, so bilinear sampling is separable:
            # image = K_y @ digit @ K_x^T (two batched products instead of a grid_sample)
            pad = (self.canvas - 28) // 2
            k_y = axis_weights(out_to_in[:, 1, 1], out_to_in[:, 1, 2], self.canvas, pad)
            k_x = axis_weights(out_to_in[:, 0, 0], out_to_in[:, 0, 2], self.canvas, pad)
            images = k_y @ digits[:, 0] @ k_x.transpose(1, 2)  # B x S x S
            params["clutter_index"] = add_clutter(
                images, self.clutter_pool, key, index, resize=self.dataset == "mnist-scale"
            )
            images = images.clamp_(0.0, 1.0)[:, None]
        return images.contiguous(), self.labels[index], params


__all__ = ["CANVAS", "VAL_SEED", "VAL_SIZE", "MNISTSource",
           "add_clutter", "axis_weights", "tent", "val_indices"]  # fmt: skip
