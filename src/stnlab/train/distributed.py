"""Process setup: threads, device, and torchrun's distributed engine (gloo on CPU, nccl on GPU).

Under ``torchrun`` the environment holds ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`setup`
then joins the process group. A plain ``python``/``stnlab`` launch is world size 1 and never touches
``torch.distributed``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from stnlab.errors import StnlabError


@dataclass(frozen=True)
class Dist:
    """Where this process stands: ``rank`` of ``world_size``, its ``device``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Only rank 0 writes files and shows progress bars."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """True under torchrun with more than one process."""
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return int(value) if value is not None else default
    except ValueError:
        raise StnlabError(f"environment variable {name}={value!r} is not an integer; fix the launcher") from None


def cpu_count() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def setup(device: str = "auto", threads: int = 0) -> Dist:
    """Read torchrun's environment, pick the device, set torch threads, join the process group.

    ``threads`` 0 means the machine's cores divided by the processes on it (at least 1).
    """
    world = _env_int("WORLD_SIZE", 1)
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    local_world = _env_int("LOCAL_WORLD_SIZE", world)
    if device == "cuda" and not torch.cuda.is_available():
        raise StnlabError("device 'cuda' asked for but no CUDA GPU is visible; use the CPU (stnlab train: "
                          "--set device=cpu; stnlab eval: --device cpu)")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        dev = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    torch.set_num_threads(threads if threads > 0 else max(1, cpu_count() // max(1, local_world)))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo", rank=rank, world_size=world)
    return Dist(rank, world, local_rank, local_world, dev)


def teardown(d: Dist) -> None:
    """Leave the process group (if joined)."""
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()


def all_sum(d: Dist, values: list[float]) -> list[float]:
    """Element-wise sum of ``values`` over all ranks (float64; identity for world size 1)."""
    if not d.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=d.device if d.device.type == "cuda" else "cpu")
    dist.all_reduce(t)
    return t.tolist()


def barrier(d: Dist) -> None:
    """Wait for every rank."""
    if d.enabled:
        dist.barrier()


def gather_objects(d: Dist, obj: object) -> list[object]:
    """``obj`` from every rank (a list indexed by rank)."""
    if not d.enabled:
        return [obj]
    out: list[object] = [None] * d.world_size
    dist.all_gather_object(out, obj)
    return out


__all__ = ["Dist", "all_sum", "barrier", "cpu_count", "gather_objects",
           "setup", "teardown"]
