"""Counter-based random numbers: every draw is a pure function of (key, sample index, stream).

The generators in :mod:`stnlab.data` never keep RNG state. A draw is ``hash(key, index, stream)`` with
the SplitMix64 finaliser (in numpy ``uint64`` arithmetic, which wraps modulo 2**64 by definition), so a
sample's transform depends only on ``(seed, split, epoch, sample index)``: it is the same whatever the
batch size, the batch position, the process rank or the resume point, and it is identical on every
platform and torch version.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch
from torch import Tensor

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_MASK64 = (1 << 64) - 1


def mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 step on a ``uint64`` array (a bijection of 64-bit integers)."""
    z = np.asarray(z, dtype=np.uint64) + _GAMMA
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def make_key(*parts: int | str) -> int:
    """Fold integers and strings (hashed with CRC32) into one 64-bit key."""
    z = np.zeros(1, dtype=np.uint64)
    for part in parts:
        value = zlib.crc32(part.encode()) if isinstance(part, str) else int(part) & _MASK64
        z = mix(z ^ np.uint64(value))
    return int(z[0])


def uniform(key: int, index: Tensor | np.ndarray, count: int, stream: int = 0) -> Tensor:
    """``len(index) x count`` float64 uniforms in ``[0, 1)``: draw ``stream + j`` of sample ``index[i]``."""
    idx = np.asarray(index, dtype=np.int64).astype(np.uint64).reshape(-1, 1)  # B x 1
    cols = np.arange(stream, stream + count, dtype=np.uint64).reshape(1, -1)  # 1 x count
    h = mix(mix(np.uint64(key) ^ idx) ^ cols)  # B x count
    return torch.from_numpy((h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53)))


def randint(key: int, index: Tensor | np.ndarray, count: int, high: Tensor | int, stream: int = 0) -> Tensor:
    """``len(index) x count`` int64 values uniform in ``[0, high)`` (``high`` may broadcast)."""
    u = uniform(key, index, count, stream)
    return torch.minimum((u * high).long(), torch.as_tensor(high) - 1)


def permutation(key: int, n: int) -> Tensor:
    """A permutation of ``range(n)`` (int64) determined by ``key`` alone."""
    h = mix(np.uint64(key) ^ np.arange(n, dtype=np.uint64))
    return torch.from_numpy(np.argsort(h, kind="stable").astype(np.int64))


__all__ = ["make_key", "mix", "permutation", "randint", "uniform"]
