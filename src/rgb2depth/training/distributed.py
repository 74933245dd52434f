"""Distributed data-parallel training: process-group setup from ``torchrun``'s environment.

``torchrun --nproc_per_node=N -m rgb2depth train --config C`` (or
``torchrun --nproc_per_node=N --no-python rgb2depth train --config C``) starts N processes with
``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``MASTER_ADDR``/``MASTER_PORT`` set; :func:`setup` joins
the group (gloo on CPU, NCCL on CUDA). Without those variables everything runs as a single
process and the same config works unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"
    initialized: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup(device: str | None = None) -> DistInfo:
    """Join the process group described by the environment (no-op for a single process)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
    elif device == "cuda":  # no index given: each process of a torchrun job takes its own GPU
        device = f"cuda:{local}"
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    if world <= 1:
        return DistInfo(0, 1, 0, device, False)
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistInfo(rank, world, local, device, True)


def teardown(info: DistInfo) -> None:
    if info.initialized and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.initialized:
        dist.barrier()


def all_gather_object(info: DistInfo, obj):
    if not info.initialized:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(info: DistInfo, obj, src: int = 0):
    if not info.initialized:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_reduce_mean(info: DistInfo, value: float) -> float:
    if not info.initialized:
        return value
    t = torch.tensor([float(value)], dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    return float(t.item()) / info.world_size


def any_flag(info: DistInfo, flag: bool) -> bool:
    """True on every rank when ``flag`` is true on any rank (for a collective stop)."""
    if not info.initialized:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(t)
    return bool(t.item() > 0)
