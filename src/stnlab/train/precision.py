"""Numeric precision of the forward passes: ``fp32`` or ``bf16`` (autocast on CPU and CUDA).

Under ``bf16`` the model's convolutions and linear layers run in bfloat16 by :func:`torch.autocast`;
the loss is always computed in float32 from float32 logits, parameters, gradients and checkpoints stay
float32, and the spatial transformers' matrices and sampling grids are float32 (``grid_sample`` is on
autocast's float32 list).
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("fp32", "bf16")


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The autocast context of ``precision`` on ``device`` (a no-op context for ``fp32``)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


__all__ = ["PRECISIONS", "autocast"]
