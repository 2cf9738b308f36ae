"""Rotation-equivariant layers over the cyclic group C_N (regular fields), on plain tensors, and their export.

:class:`GroupConv2d` is a steerable convolution (e2cnn's ``R2Conv`` kernel basis: filters built from a
fixed basis of C_N-steerable kernels, so that rotating the input by ``360 / N`` degrees rotates the output
and cyclically shifts the ``N`` orientation channels of each output field; exact on the pixel grid for
multiples of 90 degrees). Unlike ``R2Conv`` it takes and returns plain ``B x C x H x W`` tensors, keeps one
state dict in train and eval mode (only the basis coefficients and a bias per field are saved; the
sampled basis is rebuilt from the constructor arguments) and exports to a plain ``nn.Conv2d``
(:func:`to_plain_convs`), which is all inference needs. Channels are field-major: channels ``f N .. f N + N
- 1`` are the ``N`` orientations of field ``f``, the layout :mod:`stnlab.geometry.orientation` acts on.
Pointwise layers (ReLU, max-pooling over space) keep regular fields regular; :class:`GroupPool` takes the
maximum over each field's orientations (invariant channels).

e2cnn is an optional dependency (``pip install "stnlab[equivariant]"``, pinned to 0.2.3); it is imported
when the first equivariant layer is built, not with stnlab: the import costs about a second (scipy), which
every other command would pay.
"""

from __future__ import annotations

import copy
import functools
import importlib
import importlib.util
import warnings
from types import ModuleType

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stnlab.errors import StnlabError
from stnlab.nn.conv import FastInputGradConv2d, fast_input_grad_conv2d

E2CNN_HINT = 'the equivariant models need e2cnn: pip install "stnlab[equivariant]" (e2cnn==0.2.3)'


def e2cnn() -> ModuleType:
    """The ``e2cnn`` package; StnlabError saying how to install it when it is missing."""
    try:
        for sub in ("e2cnn.gspaces", "e2cnn.nn"):
            importlib.import_module(sub)
        return importlib.import_module("e2cnn")
    except ImportError:
        raise StnlabError(E2CNN_HINT) from None


def e2cnn_available() -> bool:
    """True when e2cnn can be imported (the ``equivariant`` extra is installed)."""
    return importlib.util.find_spec("e2cnn") is not None


@functools.lru_cache(maxsize=64)
def steerable_basis(in_size: int, kernel_size: int, group_order: int) -> Tensor:
    """e2cnn's sampled C_N-steerable kernel basis from one field (``in_size`` = 1: invariant, ``N``: regular)
    to one regular field: ``D x N in_size x k^2`` (3-D, so ``model.to(memory_format=torch.channels_last)``
    leaves it alone). Sampled once per process (about 0.5 s)."""
    lib = e2cnn()
    space = lib.gspaces.Rot2dOnR2(N=group_order)
    rin = space.regular_repr if in_size == group_order else space.trivial_repr
    in_type = lib.nn.FieldType(space, [rin])
    out_type = lib.nn.FieldType(space, [space.regular_repr])
    with warnings.catch_warnings():  # e2cnn 0.2.3 indexes with uint8 masks, deprecated by torch
        warnings.simplefilter("ignore", UserWarning)
        expansion = lib.nn.R2Conv(in_type, out_type, kernel_size, bias=False).basisexpansion
    (sampled,) = [m.sampled_basis for m in expansion.modules() if hasattr(m, "sampled_basis")]  # D x N x i x k^2
    return sampled.reshape(sampled.shape[0], group_order * in_size, kernel_size**2).clone()


class GroupConv2d(nn.Module):
    """A C_N-steerable convolution to ``out_fields`` regular fields (``out_fields * N`` channels).

    ``in_regular``: the input is regular fields (``in_channels`` a multiple of ``N``); else ``in_channels``
    invariant (trivial) fields, e.g. an image. Stride 1; ``padding`` zeros as in ``nn.Conv2d``. The
    parameters are ``weight`` (``out_fields x in_fields x D``: the coefficients of the ``D`` basis kernels
    per pair of fields) and ``bias`` (one per output field, the same for its ``N`` orientations).
    """

    def __init__(self, in_channels: int, out_fields: int, kernel_size: int, group_order: int, *,
                 in_regular: bool = True, padding: int = 0, bias: bool = True) -> None:
        super().__init__()
        if in_regular and in_channels % group_order:
            raise StnlabError(f"{in_channels} input channels are not whole regular fields of C_{group_order}")
        self.in_channels, self.out_channels = in_channels, out_fields * group_order
        self.group_order, self.in_regular = group_order, in_regular
        # the attributes of an nn.Conv2d: the layer geometry reads them, and so does FastInputGradConv2d._fast_ok
        self.kernel_size, self.padding = kernel_size, (padding, padding)
        self.stride, self.dilation, self.groups, self.padding_mode = (1, 1), (1, 1), 1, "zeros"
        in_size = group_order if in_regular else 1
        self.in_fields, self.out_fields = in_channels // in_size, out_fields
        self.register_buffer("basis", steerable_basis(in_size, kernel_size, group_order), persistent=False)
        self.weight = nn.Parameter(torch.empty(out_fields, self.in_fields, self.basis.shape[0]))
        self.bias = nn.Parameter(torch.empty(out_fields)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Coefficients whose expanded filters have He's variance ``2 / fan_in`` on average; zero bias."""
        fan_in = self.in_channels * self.kernel_size**2
        std = (2 / fan_in * self.basis[0].numel() / self.basis.pow(2).sum()).sqrt()
        with torch.no_grad():
            self.weight.normal_(0.0, float(std))
            if self.bias is not None:
                self.bias.zero_()

    def filters(self) -> tuple[Tensor, Tensor | None]:
        """The expanded ``out x in x k x k`` filter bank and per-channel bias of a plain convolution."""
        k, n = self.kernel_size, self.group_order
        basis = self.basis.reshape(-1, n, self.in_channels // self.in_fields, k, k)  # D x N x i x k x k
        weight = torch.einsum("fgd,dnikl->fngikl", self.weight, basis)  # F x N x G x i x k x k
        weight = weight.reshape(self.out_channels, self.in_channels, k, k)  # field-major channels
        bias = None if self.bias is None else self.bias.repeat_interleave(n)
        return weight, bias

    def forward(self, x: Tensor) -> Tensor:
        """``conv2d`` with the expanded filters (recomputed each call, so gradients reach the coefficients); an
        image input that needs a gradient (a warped image) takes :class:`~stnlab.nn.FastInputGradConv2d`'s path
        (only there: its shifted adds are slower than oneDNN for many input channels)."""
        weight, bias = self.filters()
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
            weight = weight.to(memory_format=torch.channels_last)  # as an nn.Conv2d's after model.to(...); oneDNN
            # then keeps the output channels_last (a 1-channel weight needs .to: .contiguous keeps its strides)
        if not self.in_regular and FastInputGradConv2d._fast_ok(self, x):
            return fast_input_grad_conv2d(x, weight, bias, self.padding)
        return F.conv2d(x, weight, bias, padding=self.padding)

    def to_conv2d(self) -> nn.Conv2d:
        """A plain ``nn.Conv2d`` with the expanded filters: the same outputs, no basis expansion per call."""
        with torch.no_grad():
            weight, bias = self.filters()
            conv = nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size, padding=self.padding,
                             bias=bias is not None).to(weight.device, weight.dtype)
            conv.weight.copy_(weight)
            if bias is not None:
                conv.bias.copy_(bias)
        return conv

    def extra_repr(self) -> str:
        """Channels, kernel and group, in the module's printout."""
        kind = "regular" if self.in_regular else "trivial"
        return (f"{self.in_channels} ({kind}) -> {self.out_channels} (regular), kernel_size={self.kernel_size}, "
                f"padding={self.padding[0]}, group=C{self.group_order}")


class GroupPool(nn.Module):
    """Maximum over the ``N`` orientation channels of each regular field: ``B x F N x H x W -> B x F x H x W``."""

    def __init__(self, group_order: int) -> None:
        super().__init__()
        self.group_order = group_order

    def forward(self, x: Tensor) -> Tensor:
        """The invariant channels."""
        b, c, h, w = x.shape
        return x.reshape(b, c // self.group_order, self.group_order, h, w).amax(2)


def to_plain_convs(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every :class:`GroupConv2d` replaced by its plain ``nn.Conv2d`` (inference:
    no kernel-basis expansion per call; the same outputs to float rounding). ``model`` is left as it is."""
    if isinstance(model, GroupConv2d):
        return model.to_conv2d()
    plain = copy.deepcopy(model)
    for module in list(plain.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, GroupConv2d):
                setattr(module, name, child.to_conv2d())
    return plain


def regular_group_order(stages: list[nn.Module] | nn.ModuleList, depth: int) -> int | None:
    """The group order ``N`` if the maps after the first ``depth`` stages are regular C_N fields, else None.

    Read from the layers in order: a :class:`GroupConv2d` makes the maps regular, a plain ``Conv2d`` /
    ``Linear`` or a :class:`GroupPool` makes them not; pointwise layers (ReLU, pooling over space) keep them.
    """
    order = None
    for stage in list(stages)[:depth]:
        for module in stage.modules():
            if isinstance(module, GroupConv2d):
                order = module.group_order
            elif isinstance(module, (nn.Conv2d, nn.Linear, GroupPool)):
                order = None
    return order
