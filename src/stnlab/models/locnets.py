"""Localization-network bodies (everything between the trunk and the zero-initialised output layer).

Four kinds, chosen per data set (override with ``loc_net=``):

* ``"mnist"`` (the authors' MNIST loc-net): bilinear x0.5 downsample -> conv 5x5, 20 -> maxpool 2 -> ReLU ->
  conv 5x5, 20 -> ReLU -> linear 20 -> ReLU. **On feature maps** (depth >= 1) the downsample is dropped (each
  MNIST stage already halves the resolution) and a kernel is shrunk to the map's side when the map is smaller
  than 5, and the pooling is skipped on a 1-pixel map, so the same body fits every depth.
* ``"small"`` (Jaderberg's SVHN loc-net): flatten -> linear 32 -> ReLU -> linear 32 -> ReLU.
* ``"large"`` (Jaderberg's STN-C0-large, 4 weight layers): conv 5x5, 32 (pad 2) -> ReLU -> maxpool 2 ->
  conv 5x5, 32 (pad 2) -> ReLU -> linear 32 -> ReLU -> linear 32 -> ReLU. Also stnlab's default for plankton
  before the ``"ndsb"`` body existed.
* ``"ndsb"`` (the authors' plankton loc-net, from their public code; kernel size and normalisation ours):
  BatchNorm (no affine) of the loc-net's input -> conv 3x3, 32 -> ReLU -> maxpool 2 -> conv 3x3, 32 -> ReLU ->
  maxpool 2 -> linear 32 -> ReLU -> linear 32 -> ReLU, every conv and linear He-initialised. stnlab's
  default for plankton. The input normalisation is what lets a loc-net on feature maps vary at all: the
  plankton network's depth-2 maps average ~0.008 (mostly black images), and through four default-initialised
  layers the last hidden layer then varied across validation images by 3 % of its mean, so the zero-initialised
  output layer learned one transform for every image (measured, docs/training.md "The plankton recipe").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from stnlab.nn import HeConv2d, HeLinear, output_shape


def _flat_mlp(convs: list[nn.Module], in_shape: Sequence[int], widths: Sequence[int]) -> nn.Sequential:
    """``convs`` followed by flatten and ReLU linears of ``widths`` (input size found by a dry run)."""
    body = nn.Sequential(*convs, nn.Flatten())
    (features,) = output_shape(body, in_shape)
    for width in widths:
        body.extend([nn.Linear(features, width), nn.ReLU()])
        features = width
    return body


def mnist_body(in_shape: Sequence[int], on_image: bool) -> nn.Sequential:
    """The authors' MNIST loc-net body, adapted to feature maps when ``on_image`` is False."""
    c, h, _ = in_shape
    layers: list[nn.Module] = []
    if on_image:
        layers.append(nn.Upsample(scale_factor=0.5, mode="bilinear", align_corners=False))
        h //= 2
    k = min(5, h)
    layers.append(nn.Conv2d(c, 20, k))
    h = h - k + 1
    if h >= 2:
        layers.append(nn.MaxPool2d(2))
        h //= 2
    k = min(5, h)
    layers += [nn.ReLU(), nn.Conv2d(20, 20, k), nn.ReLU()]
    return _flat_mlp(layers, in_shape, [20])


def small_body(in_shape: Sequence[int], on_image: bool) -> nn.Sequential:
    """Jaderberg's "small" SVHN loc-net body: two linear layers of 32 on the flattened input."""
    return _flat_mlp([], in_shape, [32, 32])


def large_body(in_shape: Sequence[int], on_image: bool) -> nn.Sequential:
    """Jaderberg's "large" loc-net body: two 5x5 convs of 32 with a max-pool, two linears of 32."""
    c, h, _ = in_shape
    layers: list[nn.Module] = [nn.Conv2d(c, 32, 5, padding=2), nn.ReLU()]
    if h >= 2:
        layers.append(nn.MaxPool2d(2))
    layers += [nn.Conv2d(32, 32, 5, padding=2), nn.ReLU()]
    return _flat_mlp(layers, in_shape, [32, 32])


def ndsb_body(in_shape: Sequence[int], on_image: bool) -> nn.Sequential:
    """The authors' plankton loc-net body behind a BatchNorm of its input, He-initialised."""
    c, h, _ = in_shape
    layers: list[nn.Module] = [nn.BatchNorm2d(c, affine=False), HeConv2d(c, 32, 3, padding=1), nn.ReLU()]
    if h >= 2:
        layers.append(nn.MaxPool2d(2))
    layers += [HeConv2d(32, 32, 3, padding=1), nn.ReLU()]
    if h >= 4:
        layers.append(nn.MaxPool2d(2))
    body = nn.Sequential(*layers, nn.Flatten())
    (features,) = output_shape(body, in_shape)
    body.extend([HeLinear(features, 32), nn.ReLU(), HeLinear(32, 32), nn.ReLU()])
    return body


LOC_BODIES: dict[str, Callable[[Sequence[int], bool], nn.Sequential]] = {
    "mnist": mnist_body,
    "small": small_body,
    "large": large_body,
    "ndsb": ndsb_body,
}
