"""Multi-process training under torchrun: join the group, and order the work only rank 0 may do."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import torch.distributed as dist

T = TypeVar("T")


def init_distributed(device: str) -> tuple[int, int, str]:
    """Join torchrun's process group: gloo on CPU, NCCL on cuda:<LOCAL_RANK>. Returns (rank, world, device)."""
    missing = [name for name in ("WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if missing:
        raise ValueError(f"--distributed needs torchrun's environment (missing {', '.join(missing)}); launch with "
                         "python -m torch.distributed.run --nproc_per_node=N scripts/train_residual.py --distributed")
    if device.startswith("cuda"):
        device, backend = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}", "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size(), device


def is_distributed() -> bool:
    """Whether this process is one of several in an initialized torch.distributed group."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank0_first(work: Callable[[], T]) -> T:
    """Run `work` on rank 0, then on the other ranks (e.g. building a cache the others then reuse)."""
    if not is_distributed():
        return work()
    result = work() if dist.get_rank() == 0 else None
    dist.barrier()
    return result if dist.get_rank() == 0 else work()


def from_rank0(value: T) -> T:
    """Rank 0's `value` on every rank (e.g. the run directory, whose name holds the time)."""
    if not is_distributed():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
