"""``eval_mode``: run a model in evaluation mode and give every module its own mode back afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

from torch import nn


@contextlib.contextmanager
def eval_mode(*modules: nn.Module | Iterable[nn.Module]) -> Iterator[None]:
    """Put ``modules`` (modules or lists of them) in eval mode (dropout off, batch-norm running statistics)
    for the ``with`` block, then restore the ``training`` flag of **each** submodule as it was — also when
    the block raises, and also for a model whose submodules were in mixed modes (``model.train(flag)``
    would overwrite those)."""
    flat = [m for item in modules for m in ([item] if isinstance(item, nn.Module) else item)]
    saved = [(sub, sub.training) for m in flat for sub in m.modules()]
    try:
        for m in flat:
            m.eval()
        yield
    finally:
        for sub, mode in saved:
            sub.training = mode


__all__ = ["eval_mode"]
