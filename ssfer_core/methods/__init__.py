"""Methods registry: name -> (class, fixed kwargs). ``build(cfg, info)`` returns the method,
which owns its network as ``method.model``.

Plug-ins: ``leaf+fixmatch`` and ``leaf+sitfer`` are FixMatch / SIT-FER with LEAF's semantic- and
instance-level mixtures of experts in the network and LEAF's category-level positive/negative loss
in place of their hard-label unlabeled loss (the paper's plug-in rows).
"""
from __future__ import annotations

from ssfer_core.methods.base import DataInfo, SSLMethod
from ssfer_core.methods.fixmatch import FixMatch
from ssfer_core.methods.leaf import Leaf
from ssfer_core.methods.sitfer import SitFer
from ssfer_core.methods.supervised import Supervised

METHODS: dict[str, tuple[type[SSLMethod], dict]] = {}


def register(name: str, cls: type[SSLMethod], **kwargs) -> None:
    METHODS[name] = (cls, kwargs)


register("supervised", Supervised)
register("fixmatch", FixMatch)
register("sitfer", SitFer)
register("leaf", Leaf)
register("leaf+fixmatch", FixMatch, leaf_plugin=True)
register("leaf+sitfer", SitFer, leaf_plugin=True)


def resolve_net_defaults(cfg):
    """Fill the network fields left ``None`` with the method's defaults (in place; returns cfg),
    so that the config a run records is the config it trained with."""
    if cfg.method not in METHODS:
        raise KeyError(f"unknown method {cfg.method!r}; known: {sorted(METHODS)}")
    cls, kwargs = METHODS[cfg.method]
    for key, value in cls.net_defaults(cfg, **kwargs).items():
        if getattr(cfg.net, key) is None:
            setattr(cfg.net, key, value)
    return cfg


def build(cfg, info: DataInfo) -> SSLMethod:
    from ssfer_core.models.heads import FERNet

    resolve_net_defaults(cfg)
    cls, kwargs = METHODS[cfg.method]
    return cls(cfg, FERNet(cfg.net, info.num_classes), info, **kwargs)
