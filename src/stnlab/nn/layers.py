"""The network under analysis as a list of stages, and where each layer-k map sits in the input.

Γ_k (the first ``k`` stages) maps an image to feature maps whose pixels look at a *cropped, strided* grid of
input positions when convolutions and pooling are unpadded (as in the stnlab MNIST backbones: 28 px -> 10 px
after 9x9 conv + 2x2 pool). Pixel ``j`` of a layer-k map is centred on input pixel coordinate ``start_k + j *
jump_k`` (receptive-field arithmetic: each conv/pool layer with kernel ``K``, stride ``s``, padding ``p``
before the first pixel and dilation ``d`` adds ``((K - 1) d / 2 - p) * jump`` to ``start`` and multiplies
``jump`` by ``s``; ``padding='same'`` with an even kernel pads one pixel more after than before, and padding
layers such as ``nn.ZeroPad2d`` count too). In normalised coordinates (see :mod:`stnlab.geometry`) a layer
point ``q`` therefore looks at the input point ``L_k q`` with ``L_k = [[a, 0, b], [0, a, b]]``, ``a = jump *
H_k / H`` and ``b = (2 start + 1 - jump + jump H_k - H) / H``. An input transform ``A_h`` acts on the layer-k
map as ``L_k^-1 A_h L_k``: a rotation about the image centre stays the same rotation (about the map point that
sees the image centre), while translations are rescaled by ``1 / a`` — a shift of ``t`` input pixels is ``t /
jump`` layer pixels, a whole number only for multiples of ``jump``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from stnlab.errors import StnlabError
from stnlab.modes import eval_mode

_SPATIAL = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


def _is_spatial(module: nn.Module) -> bool:
    """A conv/pool layer, or any layer that declares a kernel, stride and padding like one (e.g.
    :class:`~stnlab.nn.GroupConv2d`): one step of the receptive-field arithmetic, whatever its children."""
    return isinstance(module, _SPATIAL) or all(hasattr(module, a) for a in ("kernel_size", "stride", "padding"))


def stages_of(net: nn.Module | Sequence[nn.Module]) -> list[nn.Module]:
    """The stages of ``net``: an stnlab model's ``backbone.stages``, a ``Backbone``'s ``stages``,
    the children of an ``nn.Sequential``, or a list of modules given by the user."""
    if isinstance(net, nn.Module):
        backbone = getattr(net, "backbone", net)
        stages = getattr(backbone, "stages", None)
        if isinstance(stages, nn.ModuleList):
            return list(stages)
        if isinstance(net, nn.Sequential):
            return list(net)
        raise StnlabError(
            f"cannot find the stages of {type(net).__name__}; pass an stnlab model, an "
            "nn.Sequential, or a list of nn.Module stages"
        )
    stages = list(net)
    if not stages or not all(isinstance(s, nn.Module) for s in stages):
        raise StnlabError("stages must be a non-empty list of nn.Module objects")
    return stages


def _pair(v: int | tuple[int, ...]) -> int:
    """One spatial number from an int or a pair; non-square kernels/strides are not supported."""
    if isinstance(v, int):
        return v
    if len(set(v)) != 1:
        raise StnlabError(f"non-square kernel/stride/padding {v} is not supported by the layer geometry")
    return int(v[0])


def _pad_module(module: nn.Module) -> tuple[int, int] | None:
    """``(before, after)`` pixels of a padding layer (``ZeroPad2d``, ``ReflectionPad2d``, ...); None otherwise."""
    if not isinstance(module, (nn.ZeroPad2d, nn.ConstantPad2d, nn.ReflectionPad2d, nn.ReplicationPad2d)):
        return None
    left, right, top, bottom = module.padding
    if (left, right) != (top, bottom):
        raise StnlabError(f"padding {module.padding} differs between x and y; the layer geometry needs square maps")
    return left, right


def _conv_padding(module: nn.Module, k: int, d: int) -> tuple[float, float]:
    """``(before, after)`` padding of a conv/pool layer. ``'same'`` pads ``d (k - 1)`` in all, the odd pixel
    *after* (as PyTorch does: an even kernel's map is shifted half a pixel); ``'valid'`` pads nothing."""
    if isinstance(module.padding, str):
        total = 0 if module.padding == "valid" else d * (k - 1)
        return total // 2, total - total // 2
    p = _pair(module.padding)
    return p, p


def _walk(module: nn.Module, start: float, jump: float, n: int) -> tuple[float, float, int]:
    """Receptive-field arithmetic through ``module`` (children in registration order).

    ``start``/``jump`` as in the module docstring, ``n`` the map side; returns the values after ``module``.
    """
    children = list(module.children())
    if children and not _is_spatial(module):
        for child in children:
            start, jump, n = _walk(child, start, jump, n)
        return start, jump, n
    pad = _pad_module(module)
    if pad is not None:
        return start - pad[0] * jump, jump, n + pad[0] + pad[1]
    if not _is_spatial(module):
        return start, jump, n  # pointwise layers (activations, norms, dropout) keep the grid
    k, s = _pair(module.kernel_size), _pair(module.stride if module.stride else module.kernel_size)
    d = _pair(getattr(module, "dilation", 1))
    before, after = _conv_padding(module, k, d)
    span = int(n + before + after - d * (k - 1) - 1)
    n_out = (-(-span // s) if getattr(module, "ceil_mode", False) else span // s) + 1
    return start + ((k - 1) * d / 2 - before) * jump, jump * s, n_out


@dataclass(frozen=True)
class LayerGeometry:
    """Where a layer-k map sits in the input: see the module docstring for ``a`` and ``b``."""

    depth: int
    map_size: int  # H_k
    channels: int
    jump: float  # cumulative stride in input pixels
    a: float
    b: float

    def to_input(self, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Tensor:
        """``L_k`` (``1 x 3 x 3``, on ``device`` in ``dtype``; default: the CPU, float32): layer-k normalised
        coordinates -> input normalised coordinates."""
        rows = [[[self.a, 0.0, self.b], [0.0, self.a, self.b], [0.0, 0.0, 1.0]]]
        return torch.tensor(rows, device=device, dtype=dtype or torch.float32)

    def conjugate(self, matrix: Tensor) -> Tensor:
        """``L_k^-1 A L_k``: an input warp matrix ``A`` (``B x 3 x 3``) expressed on the layer-k map (on its device,
        in its dtype)."""
        lk = self.to_input(device=matrix.device, dtype=matrix.dtype)
        return torch.linalg.inv(lk) @ matrix @ lk


def layer_geometries(stages: Sequence[nn.Module], image_shape: Sequence[int]) -> list[LayerGeometry]:
    """Geometry of depths ``0..len(stages)`` for inputs of shape ``(C, H, W)`` (square ``H == W``).

    Uses receptive-field arithmetic over ``Conv2d``/``MaxPool2d``/``AvgPool2d`` layers, checked against
    the real map sizes of a dry run; a stage whose size the arithmetic cannot explain (a custom layer
    that resamples) is assumed to cover the whole field of the previous map ("same"-style), centred.
    """
    c, h, w = image_shape
    if h != w:
        raise StnlabError(f"the alignment analysis needs square images, got {h}x{w}; crop or pad them")
    geos = [LayerGeometry(0, h, c, 1.0, 1.0, 0.0)]
    start, jump = 0.0, 1.0
    params = [p for stage in stages for p in stage.parameters()]
    x = torch.zeros(1, c, h, w, device=params[0].device if params else None)  # the dry run, where the stages are
    with torch.no_grad():
        for k, stage in enumerate(stages, start=1):
            with eval_mode(stage):
                x = stage(x)
            if x.dim() != 4 or x.shape[-1] != x.shape[-2]:
                raise StnlabError(
                    f"stage {k} outputs shape {tuple(x.shape[1:])}, not square C x H x W maps; "
                    "pass only the convolutional stages (without the classifier head)"
                )
            prev, hk = geos[-1].map_size, x.shape[-1]
            new_start, new_jump, n = _walk(stage, start, jump, prev)
            if n != hk:  # unexplained resampling: assume the map spans the previous field, centred
                new_jump = jump * prev / hk
                new_start = start + (prev - 1) * jump / 2 - (hk - 1) * new_jump / 2
            start, jump = new_start, new_jump
            a = jump * hk / h
            b = (2 * start + 1 - jump + jump * hk - h) / h
            geos.append(LayerGeometry(k, hk, x.shape[1], jump, a, b))
    return geos


def feature_maps(stages: Sequence[nn.Module], images: Tensor, depths: Sequence[int]) -> dict[int, Tensor]:
    """``{k: Γ_k(images)}`` for each requested depth, computed in one pass without gradients.

    The stages run in eval mode (dropout off, batch-norm running statistics; each stage's mode is
    restored afterwards), so the maps are deterministic and do not depend on the batch.
    """
    out: dict[int, Tensor] = {}
    x = images
    with torch.no_grad():
        if 0 in depths:
            out[0] = x
        for k, stage in enumerate(stages[: max(depths)], start=1):
            with eval_mode(stage):
                x = stage(x)
            if k in depths:
                out[k] = x
    return out
