"""A ``Conv2d`` whose input gradient is computed by one matrix product and shifted adds (CPU).

Why: in an STN the first backbone conv receives a *warped* input, which needs a gradient (it flows
back into ``grid_sample`` and the loc-net); a plain CNN never asks for it. On this CPU (oneDNN,
torch 2.13) the input gradient of a conv with few input channels is slow: for the MNIST first conv
(1 -> 64, 9x9, 256 x 1 x 28 x 28) it took ~90 ms against ~7 ms for the forward, about half of an
STN-C0 training step. The same gradient written as

    P = W^T @ G               # (C*kh*kw) x (B*Ho*Wo): every output-gradient pixel times every tap
    dx[:, :, i:i+Ho, j:j+Wo] += P[tap (i, j)]   for each of the kh*kw taps

costs one GEMM plus kh*kw strided adds (~20 ms here). The weight and bias gradients still come from
``aten.convolution_backward``. The fast path is taken only where it was measured to help: CPU,
stride 1, dilation 1, groups 1, zero padding, and an input that needs a gradient (under bf16 autocast
too: one 256 x 1 x 28 x 28 input gradient of the 9x9 conv took ~100 ms against ~170 ms for oneDNN's bf16
path on one loaded core);
everything else is exactly ``nn.Conv2d``. Values equal ``nn.Conv2d``'s to float32 rounding (tested,
with float64 ``gradcheck``). ``benchmarks/train_speed.py`` measures the effect on whole steps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def conv_input_grad(grad_out: Tensor, weight: Tensor, in_shape: torch.Size, padding: tuple[int, int],
                    chunk_bytes: int = 8 << 20) -> Tensor:
    """Gradient of ``conv2d(x, weight, padding=padding)`` (stride 1) w.r.t. ``x`` of shape ``in_shape``.

    Works on batch chunks whose tap buffer stays under ``chunk_bytes`` (cache-sized), so large images
    do not stream a ``(C*kh*kw) x (B*Ho*Wo)`` intermediate through memory.
    """
    b, o, ho, wo = grad_out.shape
    _, c, kh, kw = weight.shape
    w_t = weight.reshape(o, c * kh * kw).t()  # (C*kh*kw) x O
    ph, pw = padding
    dx = grad_out.new_empty(c, b, in_shape[2], in_shape[3])  # C x B x H x W
    acc = torch.promote_types(grad_out.dtype, torch.float32)  # bf16 taps are summed in fp32
    step = max(1, chunk_bytes // (c * kh * kw * ho * wo * grad_out.element_size()))
    for s in range(0, b, step):
        g = grad_out[s:s + step]
        n = g.shape[0]
        taps = (w_t @ g.permute(1, 0, 2, 3).reshape(o, n * ho * wo)).view(c, kh, kw, n, ho, wo)
        padded = grad_out.new_zeros(c, n, ho + kh - 1, wo + kw - 1, dtype=acc)  # C x n x (H+2ph) x (W+2pw)
        for i in range(kh):
            for j in range(kw):
                padded[:, :, i:i + ho, j:j + wo] += taps[:, i, j]
        dx[:, s:s + n] = padded[:, :, ph:ph + in_shape[2], pw:pw + in_shape[3]]
    fmt = torch.channels_last if grad_out.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
    return dx.permute(1, 0, 2, 3).contiguous(memory_format=fmt)  # B x C x H x W


class _FastInputGradConv(torch.autograd.Function):
    """conv2d forward; backward: input gradient by :func:`conv_input_grad`, the rest by aten."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, padding: tuple[int, int]) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.padding = padding
        ctx.has_bias = bias is not None
        return F.conv2d(x, weight, bias, padding=padding)

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad_w = grad_b = grad_x = None
        if need_w or need_b:
            bias_sizes = [weight.shape[0]] if ctx.has_bias else None
            _, grad_w, grad_b = torch.ops.aten.convolution_backward(
                grad_out, x, weight, bias_sizes, [1, 1], list(ctx.padding), [1, 1], False, [0, 0], 1,
                [False, need_w, need_b and ctx.has_bias])
        if need_x:
            grad_x = conv_input_grad(grad_out, weight, x.shape, ctx.padding)
        return grad_x, grad_w, grad_b, None


class FastInputGradConv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters, same state dict) with a faster input gradient on CPU.

    Meant for a network's first conv, whose input is warped by an ST and so needs a gradient.
    """

    def _fast_ok(self, x: Tensor) -> bool:
        return (x.requires_grad and torch.is_grad_enabled() and x.device.type == "cpu"
                and self.padding_mode == "zeros" and self.stride == (1, 1) and self.dilation == (1, 1)
                and self.groups == 1 and isinstance(self.padding, tuple))

    def forward(self, x: Tensor) -> Tensor:
        """``conv2d(x)``; the custom backward when :meth:`_fast_ok`, else ``nn.Conv2d.forward``.

        Under CPU autocast the input and parameters are cast to the autocast dtype first (as autocast
        does for a conv), so forward and backward run in bf16; the taps are summed in fp32.
        """
        if not self._fast_ok(x):
            return super().forward(x)
        return fast_input_grad_conv2d(x, self.weight, self.bias, self.padding)


def fast_input_grad_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None, padding: tuple[int, int]) -> Tensor:
    """``conv2d`` (stride 1, zero padding) with the input gradient of :func:`conv_input_grad`; under CPU
    autocast the input and parameters are cast to the autocast dtype first (as autocast does for a conv)."""
    if not torch.is_autocast_enabled("cpu"):
        return _FastInputGradConv.apply(x, weight, bias, padding)
    dt = torch.get_autocast_dtype("cpu")
    with torch.autocast("cpu", enabled=False):
        return _FastInputGradConv.apply(x.to(dt), weight.to(dt), None if bias is None else bias.to(dt), padding)
