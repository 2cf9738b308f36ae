"""The papers' protocols (and every transform kind) generated on the fly in batches, for any images.

:class:`ProtocolSource` applies a protocol (``none`` or a transform kind of :mod:`stnlab.data.kinds`:
``rotation``, ``translation``, ``scale``, ``perspective``) to uint8 images of any side ``N`` (grey
``N x H x W`` or ``N x C x H x W``); :class:`stnlab.data.mnist.MNISTSource` is one, over the MNIST digits,
as are the user's own data sets. The table below is the MNIST case (``N = 28``); for other sides the
canvas, the shift range and the clutter crops scale with ``N`` (each kind's module states its canvas and
draws), and every channel gets the same warp.

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

Clutter (the kind's ``clutter``) is added after the digit is transformed, and the sum is clipped to [0, 1].
All of a batch is made at once: R (and perspective) by one ``grid_sample``; T and S, whose warps are
axis-aligned (the kind's ``separable``), by separable bilinear weights (``image = K_y @ digit @ K_x^T``, equal
to ``warp(padded digit, matrix)`` up to float rounding) and the clutter patches are placed with one
``index_add_``. Clutter always comes from the *training* images (the train split, without the held-out
validation images), for every split. A test (or val) "pass" ``p`` is ``epoch=p``; the papers' test error is
the mean over passes 0..9.

Params (``return_params=True``), all ``(B,)`` unless stated: ``angle`` (radians, content turned
counter-clockwise on screen), ``scale`` (content magnification), ``tx``, ``ty`` (content shift, normalised
units of the output canvas, + = right/down), ``matrix`` (``B x 3 x 3``: the *sampling* matrix, the map
from output to input coordinates; ``stnlab.geometry.warp(centred digit, matrix)`` gives the image), and
what the kind adds (perspective: ``px``, ``py``).
``matrix`` is ``stnlab.geometry.out_to_in_from_content(canvas, angle=angle, scale=scale, shift=pixels)``:
with y pointing down the content map is ``affine_matrix(-angle, scale, (tx, ty))`` and ``matrix`` is its
inverse (for mnist-rot exactly ``rotation_matrix(angle)``; ``warp(image, rotation_matrix(-angle))`` undoes
it). T/S also give ``clutter_index`` (``B x 6``, indices into ``source.clutter_pool``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from stnlab.data.dataspec import canvas_size
from stnlab.data.kinds import content_params, get_kind
from stnlab.data.rng import make_key, uniform
from stnlab.data.source import BatchSource
from stnlab.geometry import warp

NUM_CLUTTER = 6
CROP = 6  # clutter crop side for 28-pixel content (scaled with the content side)
_CLUTTER_STREAM = 16  # transform draws use streams 0..15, clutter draws 16..


def tent(coord: Tensor, n: int) -> Tensor:
    """Bilinear weights ``coord.shape x n`` of sampling positions ``coord`` (pixel units) on pixels ``0..n-1``.

    Positions between pixels mix their two neighbours; taps outside ``0..n-1`` weigh nothing, exactly as
    ``grid_sample(..., padding_mode="zeros", align_corners=False)``.
    """
    w = coord[..., None] - torch.arange(n, dtype=coord.dtype, device=coord.device)  # distance to each pixel
    return w.abs_().neg_().add_(1).clamp_(min=0)


def axis_weights(scale: Tensor, shift: Tensor, size: int, pad: int, content: int = 28) -> Tensor:
    """``B x size x content`` weights of one axis of an axis-aligned warp of content centred on a ``size`` canvas.

    ``scale``, ``shift`` (``(B,)``) are that axis' diagonal and translation entries of the sampling matrix.
    ``K_y @ digit @ K_x^T`` then equals ``warp(padded digit, matrix)`` (bilinear is separable).
    """
    out = (torch.arange(size, device=scale.device) * 2 + 1) / size - 1  # normalised output coordinates
    inp = scale[:, None] * out + shift[:, None]  # B x size, normalised input coordinates
    return tent((inp + 1) * size / 2 - 0.5 - pad, content)


def _clutter_sizes(draws: Tensor, content: int, resize: bool) -> tuple[int, int, Tensor]:
    """(crop side, patch frame, per-patch side) for ``content``-pixel images: 6, 18, 2k for MNIST."""
    crop = max(1, (CROP * content + 14) // 28)
    if not resize:
        return crop, crop, torch.full((len(draws),), crop)
    side = ((2 * (1 + (draws[:, 3] * 9).long()) * content + 14) // 28).clamp_(min=1)
    return crop, max(1, (18 * content + 14) // 28), side


def add_clutter(canvas: Tensor, pool: Tensor, key: int, index: Tensor, resize: bool) -> Tensor:
    """Add ``NUM_CLUTTER`` crops of random ``pool`` images to ``canvas`` (``B x [C x] S x S``, in place).

    ``pool`` is uint8 ``N x [C x] H x W``. A patch is a random crop (6x6 for 28-pixel images, scaled with
    the image side); with ``resize`` it is resized to ``2k x 2k`` (likewise scaled), ``k`` uniform in 1..9
    (the scale protocol), as ``F.interpolate(mode="bilinear", align_corners=False)`` does; it lands at a
    uniform position where it fits. All patches are made by one batched product and added by one
    ``index_add_``. Returns the ``B x 6`` pool indices. The caller clips.
    """
    canvas4 = canvas[:, None] if canvas.dim() == 3 else canvas
    pool4 = pool[:, None] if pool.dim() == 3 else pool
    b, c, size = canvas4.shape[0], canvas4.shape[1], canvas4.shape[-1]
    h, w = pool4.shape[-2:]
    n = b * NUM_CLUTTER
    # float64 on purpose: a float32 cast rounds draws above 1 - 2**-25 up to 1.0 (index past the end)
    draws = uniform(key, index, NUM_CLUTTER * 6, _CLUTTER_STREAM).reshape(n, 6)  # 6 draws a patch
    crop, frame, side = _clutter_sizes(draws, h, resize)
    src = (draws[:, 0] * len(pool4)).long()
    cy, cx = (draws[:, 1] * (h + 1 - crop)).long(), (draws[:, 2] * (w + 1 - crop)).long()
    ar, ch, dev = torch.arange(crop), torch.arange(c), canvas.device  # indices on the CPU, pixels on ``dev``
    crops = pool4[src[:, None, None, None].to(dev), ch[None, :, None, None].to(dev),
                  (cy[:, None] + ar)[:, None, :, None].to(dev),
                  (cx[:, None] + ar)[:, None, None, :].to(dev)].reshape(n * c, crop, crop)  # (n C) x crop x crop
    rel = torch.arange(frame, dtype=torch.float32)[None, :]  # pixel inside the patch frame
    coord = ((rel + 0.5) * (crop / side[:, None]) - 0.5).clamp(0, crop - 1)  # n x F, edge-clamped
    k = tent(coord, crop).repeat_interleave(c, 0).to(dev)  # (n C) x F x crop
    patches = (k @ (crops.float() / 255.0) @ k.transpose(1, 2)).reshape(n, c, frame, frame)
    y0 = (draws[:, 4] * (size - side + 1)).long()
    x0 = (draws[:, 5] * (size - side + 1)).long()
    ar = torch.arange(frame)
    owner = (torch.arange(b).repeat_interleave(NUM_CLUTTER)[:, None] * c + ch)[:, :, None, None]  # n x C x 1 x 1
    rows = (y0[:, None] + ar)[:, None, :, None]
    flat = (owner * size + rows) * size + (x0[:, None] + ar)[:, None, None, :]  # n x C x F x F
    used = ((ar[None, :, None] < side[:, None, None]) & (ar[None, None, :] < side[:, None, None]))[:, None]
    used = used.expand(n, c, frame, frame)
    canvas4.reshape(-1).index_add_(0, flat[used].to(dev), patches[used.to(dev)])
    return src.reshape(b, NUM_CLUTTER)


def draw_transforms(protocol: str, key: int, index: Tensor, canvas: int, content: int,
                    amplitude: float = 1.0) -> dict[str, Tensor]:
    """The protocol's per-sample params (``angle``, ``scale``, ``tx``, ``ty``, the sampling ``matrix``, and what
    the kind adds): its transform kind's draw (:mod:`stnlab.data.kinds`); the identity for ``none``.

    ``amplitude`` in [0, 1] shrinks every draw toward the untransformed image (the same random numbers): 1 is
    the protocol itself, 0 no transform (see :meth:`ProtocolSource.set_warmup`).
    """
    if protocol == "none":
        return content_params(canvas, len(index))
    return get_kind(protocol).draw(key, index, content, canvas, amplitude)


def separable_warp(content: Tensor, matrix: Tensor, canvas: int) -> Tensor:
    """``B x C x n x n`` content centred on a ``canvas`` side and warped by axis-aligned sampling matrices
    ``B x 3 x 3``: bilinear sampling is then separable, ``image = K_y @ content @ K_x^T`` (two batched products
    instead of a ``grid_sample``; equal to ``warp`` of the padded content up to float rounding)."""
    b, c, n = content.shape[0], content.shape[1], content.shape[-1]
    pad = (canvas - n) // 2
    k_y = axis_weights(matrix[:, 1, 1], matrix[:, 1, 2], canvas, pad, n).repeat_interleave(c, 0)
    k_x = axis_weights(matrix[:, 0, 0], matrix[:, 0, 2], canvas, pad, n).repeat_interleave(c, 0)
    return (k_y @ content.reshape(b * c, n, n) @ k_x.transpose(1, 2)).reshape(b, c, canvas, -1)


def _centred(content: Tensor, canvas: int) -> Tensor:
    """``content`` (``B x C x n x n``) centred on a ``canvas`` side with zeros (itself when it fits exactly)."""
    pad = canvas - content.shape[-1]
    return content if pad == 0 else F.pad(content, (pad // 2, pad - pad // 2) * 2)


class SplitImages(NamedTuple):
    """The images of one split: uint8 ``images`` ``N x H x W`` (grey) or ``N x C x H x W``, int64 ``labels``,
    the ``pool`` that clutter is cut from (the training split's images) and the number of classes."""

    images: Tensor
    labels: Tensor
    pool: Tensor
    num_classes: int


class ProtocolSource(BatchSource):
    """The images of one split (:class:`SplitImages`) seen through ``protocol`` (``none`` or a transform kind);
    ``rng_name`` names the random streams (default: the data set's name; the MNIST names keep theirs)."""

    ramps_transforms = True

    def __init__(self, dataset: str, split: str, seed: int, data: SplitImages, protocol: str,
                 rng_name: str | None = None) -> None:
        super().__init__(dataset, split, seed)
        images, self.labels, self.clutter_pool, self.num_classes = data
        self.images, self.protocol, self.rng_name = images, protocol, rng_name or dataset
        c = 1 if images.dim() == 3 else images.shape[1]
        h, w = images.shape[-2:]
        self.content = h
        self.canvas = canvas_size(protocol, h)
        self.num_samples = len(images)
        self.image_shape = (c, self.canvas, self.canvas) if protocol != "none" else (c, h, w)

    def epoch_key(self, epoch: int, purpose: str = "transform") -> int:
        """The 64-bit RNG key of ``(seed, rng_name, split, purpose, epoch)``."""
        return make_key(self.seed, self.rng_name, self.split, purpose, int(epoch))

    def render(self, index: Tensor, epoch: int) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Images ``B x C x S x S``, labels ``(B,)`` and params of the samples ``index`` in ``epoch``."""
        index = torch.as_tensor(index, dtype=torch.long)
        key, n = self.epoch_key(epoch), self.content
        digits = self.images[index.to(self.images.device)].float().div_(255.0)
        digits = digits[:, None] if digits.dim() == 3 else digits  # B x C x n x n
        params = {k: v.to(digits.device) for k, v in draw_transforms(self.protocol, key, index, self.canvas, n,
                                                                     self.amplitude(epoch)).items()}
        if self.protocol == "none":
            return digits.contiguous(), self.labels[index.to(self.labels.device)], params
        kind = get_kind(self.protocol)
        images = separable_warp(digits, params["matrix"], self.canvas) if kind.separable else \
            warp(_centred(digits, self.canvas), params["matrix"])
        if kind.clutter is not None:
            params["clutter_index"] = add_clutter(images, self.clutter_pool, key, index,
                                                  resize=kind.clutter == "resized")
            images = images.clamp_(0.0, 1.0)
        return images.contiguous(), self.labels[index.to(self.labels.device)], params

    def to(self, device: str | torch.device) -> ProtocolSource:
        """Render on ``device`` from now on: the images, labels and clutter pool move there once (a GPU is
        then fed by its own kernels, not by the CPU); the random draws stay on the CPU, so a batch's
        transforms do not depend on the device. Returns ``self``."""
        device = torch.device(device)
        self.images, self.labels = self.images.to(device), self.labels.to(device)
        self.clutter_pool = self.clutter_pool.to(device)
        self.device = device
        return self


def resize_images(images: Tensor, size: int | tuple[int, int]) -> Tensor:
    """uint8 ``N x [C x] H x W`` images resized to ``size`` (side or ``(h, w)``; bilinear, antialiased), uint8."""
    size = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(images.shape[-2:]) == size:
        return images
    x = images.float()[:, None] if images.dim() == 3 else images.float()
    out = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    out = out.round_().clamp_(0, 255).to(torch.uint8)
    return out[:, 0] if images.dim() == 3 else out


__all__ = ["ProtocolSource", "SplitImages", "add_clutter", "axis_weights", "draw_transforms", "resize_images",
           "separable_warp", "tent"]
