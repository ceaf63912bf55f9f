"""The optimiser, its schedule and the evaluation model's EMA, as a run's config names them (the
shared recipe's SGD + cosine + parameter EMA, and the LEAF release's ``WeightEMA``)."""
from __future__ import annotations

import math

import torch

from ssfer_core.config import TrainConfig


def make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, p in params:
        if not p.requires_grad:
            continue
        (no_decay if p.dim() <= 1 or name.endswith(".bias") else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    raise ValueError(f"optimizer must be sgd or adam, got {cfg.optimizer!r}")


def make_schedule(cfg: TrainConfig, opt) -> torch.optim.lr_scheduler.LambdaLR:
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda k: math.cos(7 * math.pi * k / (16 * cfg.steps)))
    if cfg.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0)
    raise ValueError(f"schedule must be cosine or constant, got {cfg.schedule!r}")


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float, step: int | None = None) -> None:
    """EMA of parameters (buffers copied). With ``step``, the decay warms up as
    min(decay, (1 + step) / (10 + step)) so short runs are not dominated by the random init."""
    if step is not None:
        decay = min(decay, (1 + step) / (10 + step))
    for e, p in zip(ema.parameters(), model.parameters()):
        e.mul_(decay).add_(p.detach(), alpha=1 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


@torch.no_grad()
def official_ema_step(ema: torch.nn.Module, model: torch.nn.Module, decay: float, live_decay: float) -> None:
    """The LEAF release's ``WeightEMA.step``, entry by entry over the state_dicts (duplicates kept):
    ``ema = decay * ema + (1 - decay) * live`` then ``live *= 1 - live_decay``, for float32 entries."""
    pairs = zip(ema.state_dict(keep_vars=True).values(), model.state_dict(keep_vars=True).values())
    for e, p in pairs:
        if e.dtype == torch.float32:
            e.mul_(decay).add_(p * (1.0 - decay))
            p.mul_(1 - live_decay)


@torch.no_grad()
def decay_live_weights(model: torch.nn.Module, factor: float) -> None:
    """Multiply every float parameter and buffer by ``1 - factor`` once (an explicit form of the
    LEAF release's hidden decay, for ``ema_state: parameters``)."""
    for t in list(model.parameters()) + list(model.buffers()):
        if t.is_floating_point():
            t.mul_(1 - factor)
