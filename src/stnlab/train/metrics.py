"""The metrics log of a run: ``metrics.jsonl`` (one JSON object a line) and optional TensorBoard scalars."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stnlab import io
from stnlab.errors import StnlabError

# Keys of a record that are the same in every run with the same config and seed (the rest is timing).
# ``st`` and ``st_warnings`` (the ST diagnostics) are present only for models with spatial transformers.
DETERMINISTIC_KEYS = ("epoch", "step", "samples", "train_loss", "train_error", "val_loss", "val_error", "lr")
ST_KEYS = ("st", "st_warnings")


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """The TensorBoard scalars of a record: its numbers, and ``stI/QUANTITY_mean|std`` and
    ``stI/compensation_QUANTITY_slope|r2`` for each ST ``I`` (and ``stI/compensation_input_tx|ty_slope`` for
    an ST on feature maps)."""
    out = {k: float(v) for k, v in record.items()
           if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("step", "epoch")}
    for st in record.get("st", []):
        for key, value in st.items():
            if isinstance(value, dict) and "mean" in value:
                out[f"st{st['index']}/{key}_mean"] = value["mean"]
                out[f"st{st['index']}/{key}_std"] = value["std"]
        for key, fit in st.get("compensation", {}).items():
            out[f"st{st['index']}/compensation_{key}_slope"] = fit["slope"]
            out[f"st{st['index']}/compensation_{key}_r2"] = fit["r2"]
        for key, fit in st.get("compensation_input", {}).items():  # an ST on feature maps, in input coordinates
            out[f"st{st['index']}/compensation_input_{key}_slope"] = fit["slope"]
    return out


class MetricsLog:
    """The records so far; :meth:`append` rewrites ``metrics.jsonl`` atomically (only when ``path`` is set).

    The whole history also travels inside each checkpoint, so a resumed run restarts its log exactly at
    the checkpoint's step, whatever the killed process had written after it.
    """

    def __init__(self, path: Path | None, history: list[dict[str, Any]] | None = None,
                 tensorboard: Path | None = None) -> None:
        self.path = path
        self.history: list[dict[str, Any]] = list(history or [])
        self.writer = _summary_writer(tensorboard) if tensorboard is not None else None
        if self.path is not None:
            self._flush()

    def append(self, record: dict[str, Any]) -> None:
        """Add one record; write the file and the TensorBoard scalars."""
        self.history.append(record)
        if self.path is not None:
            self._flush()
        if self.writer is not None:
            for key, value in scalars(record).items():
                self.writer.add_scalar(key, value, record["step"])
            self.writer.flush()

    def add_figure(self, tag: str, figure: Any, step: int) -> None:
        """Add a matplotlib figure to TensorBoard (when enabled)."""
        if self.writer is not None:
            self.writer.add_figure(tag, figure, step, close=False)
            self.writer.flush()

    def close(self) -> None:
        """Close the TensorBoard writer."""
        if self.writer is not None:
            self.writer.close()

    def _flush(self) -> None:
        assert self.path is not None
        io.write_text(self.path, "".join(json.dumps(r) + "\n" for r in self.history))


def require_tensorboard() -> Any:
    """The ``SummaryWriter`` class; StnlabError naming the fix when tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise StnlabError("--tensorboard needs the tensorboard package; install it with "
                          "'pip install tensorboard -c constraints.txt' or drop --tensorboard") from None
    return SummaryWriter


def _summary_writer(folder: Path) -> Any:
    return require_tensorboard()(str(folder))


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` file."""
    if not path.is_file():
        raise StnlabError(f"{path} not found; is {path.parent} a run folder made by 'stnlab train'?")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


__all__ = ["DETERMINISTIC_KEYS", "ST_KEYS", "MetricsLog", "read_metrics", "require_tensorboard", "scalars"]
