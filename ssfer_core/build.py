"""Where a run's parts are built, and nowhere else: its typed run context, its settings sections,
the network and the method.

    method = build_method(cfg, num_classes=7, n_labeled=350)

A method never sees the whole ``TrainConfig``: it gets the settings sections its registry entry
declares (``MethodDef.sections``), a :class:`RunContext` and the network.
"""
from __future__ import annotations

from ssfer_core.config import TrainConfig, resolve_net_defaults
from ssfer_core.methods import METHODS, RunContext, SSLMethod
from ssfer_core.models.network import FERNet


def run_context(cfg: TrainConfig, num_classes: int, n_labeled: int) -> RunContext:
    return RunContext(num_classes=num_classes, n_labeled=n_labeled, steps=cfg.steps,
                      steps_per_epoch=cfg.steps_per_epoch, seed=cfg.seed, channels_last=cfg.channels_last,
                      cache_dir=cfg.data.cache_dir,
                      forward_passes=cfg.forward_passes)


def build_method(cfg: TrainConfig, num_classes: int, n_labeled: int) -> SSLMethod:
    """The registered method of ``cfg.method`` with its network (defaults resolved first)."""
    resolve_net_defaults(cfg)
    d = METHODS[cfg.method]
    sections = {name: getattr(cfg, name) for name in d.sections}
    return d.build(FERNet(cfg.net, num_classes), run_context(cfg, num_classes, n_labeled), **sections)
