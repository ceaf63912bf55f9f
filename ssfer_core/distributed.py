"""DDP through torchrun, without a wrapper: gradients are all-reduced (averaged) in one flat bucket.

Every rank draws the same *global* batch indices and augmentations from identically-seeded
generators and keeps its slice, so a world of W ranks sees exactly the samples one process with the
same global batch would. With a batch-independent network (``net.norm=gn``) and losses averaged
over equal per-rank batches, the averaged gradient is the single-process gradient.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors


def init(device: str) -> tuple[int, int, str]:
    """(rank, world size, device) from torchrun's environment; initialises the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device
    rank = int(os.environ["RANK"])
    if device.startswith("cuda"):
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return rank, world, device


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def average_gradients(params) -> None:
    if not is_distributed():
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    for g, synced in zip(grads, _unflatten_dense_tensors(flat, grads)):
        g.copy_(synced)


def gather_cat(t: torch.Tensor) -> torch.Tensor:
    """Concatenate equal-shaped tensors from all ranks (identity when not distributed)."""
    if not is_distributed():
        return t
    parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts)


def rank_slice(n: int, rank: int, world: int) -> slice:
    if n % world:
        raise ValueError(f"global batch {n} is not divisible by the world size {world}")
    per = n // world
    return slice(rank * per, (rank + 1) * per)


def cleanup() -> None:
    if is_distributed():
        dist.destroy_process_group()
