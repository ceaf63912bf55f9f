"""The method registry: a method is one registered factory, next to its class and settings.

    @register_method("fixmatch", sections={"fixmatch": FixMatchConfig}, net=PLAIN_HEAD)
    def fixmatch(model, ctx, fixmatch: FixMatchConfig) -> FixMatch: ...

``sections`` names the ``TrainConfig`` sections the method reads (each becomes a section of
``TrainConfig``, e.g. ``train.fixmatch`` in a profile) and the factory receives them as keyword
arguments; ``net`` fills the network fields a run leaves ``None``; ``protocols`` maps a protocol
name to the keys the method sets under it (a nested mapping of ``TrainConfig`` keys, applied over a
profile's ``train:`` and under a run's overlay, see ``config.compose_config``): ``official`` is the
method's released recipe, ``shared`` what the shared recipe changes for it (its loss weights,
normalised so the labeled cross-entropy has weight 1). A method also declares what the study
needs to know of it: ``diagnostics`` (the quantities it logs that the report draws, with their
labels), ``cost`` (seconds a step relative to supervised, for the scheduler's order) and
``lesson_lr`` (its step size at the lessons' budget). Every module of ``ssfer_core/methods/`` is
imported by the package, so a new method, with its settings, is one new file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ssfer_core.methods.base import SSLMethod
from ssfer_core.registry import Registry

# Network defaults (NetConfig fields a method decides when a run leaves them None).
PLAIN_HEAD = {"dropout": 0.0, "l2_normalize": False, "semantic_moe": "off", "instance_moe": False}
"""A linear classifier on the pooled feature (supervised, FixMatch)."""
COSINE_HEAD = {"dropout": 0.5, "l2_normalize": True, "semantic_moe": "off", "instance_moe": False}
"""Dropout 0.5, L2-normalised feature, scaled logits (the SIT-FER and LEAF releases)."""
LEAF_EXPERTS = {"semantic_moe": "pooled", "instance_moe": True}
"""LEAF's semantic- and instance-level mixtures of experts (added to a host's head by the plug-ins)."""


@dataclass(frozen=True)
class PseudoLabelSource:
    """A source of pseudo-labels a method logs under ``prefix`` (``base.pseudo_label_stats``): its
    share passed (``<prefix>pass_rate``) and the accuracy of what it passes (``<prefix>pass_acc``)."""
    prefix: str
    label: str
    """Its name in the report (the pseudo-label diagnosis and the figures)."""


SELECTED = PseudoLabelSource("pl_", "selected (what the method trains on)")
"""The pseudo-labels a method trains on: every semi-supervised method logs them under ``pl_``."""


@dataclass(frozen=True)
class Panel:
    """One panel of a diagnostic figure: a line per series, each a logged training quantity."""
    ylabel: str
    series: dict[str, str]
    """Legend label -> log key. A ``<prefix>pass_acc`` key is drawn with a gap where nothing passed."""
    ylim: tuple[float, float] | None = None


@dataclass(frozen=True)
class DiagnosticFigure:
    """A figure of the report drawn from what a method logs, saved as ``<method>_<name>.png``."""
    name: str
    title: str
    panels: tuple[Panel, ...]
    caption: str = ""
    """The line under the figure: what it shows and what to read from it."""
    every_seed: bool = False
    """Draw every seed's run of the main table (one line each), not the seed-0 run alone."""


@dataclass(frozen=True)
class Diagnostics:
    """What the report shows of a method beyond its accuracy: the pseudo-label sources of the
    diagnosis table, a set whose recall it logs (LEAF's positive sets), and its own figures."""
    sources: tuple[PseudoLabelSource, ...] = ()
    set_recall: tuple[str, str] | None = None
    """(recall key, set-size key): how often a logged set holds the true class, read against a random
    set of the same mean size (size / classes)."""
    figures: tuple[DiagnosticFigure, ...] = ()


@dataclass(frozen=True)
class MethodDef:
    name: str
    build: Callable[..., SSLMethod]
    """(model, ctx, **sections) -> the method."""
    sections: dict[str, type] = field(default_factory=dict)
    """TrainConfig sections the method reads, with their settings dataclass."""
    net: dict | Callable[..., dict] = field(default_factory=lambda: dict(PLAIN_HEAD))
    """Network defaults for the NetConfig fields a run leaves None: a mapping, or a function of the
    method's settings sections (keyword arguments) that returns one."""

    def net_defaults(self, sections: dict) -> dict:
        return self.net(**sections) if callable(self.net) else self.net
    doc: str = ""
    """One line for listings (the factory's docstring)."""
    protocols: dict[str, dict] = field(default_factory=dict)
    """Protocol name -> the TrainConfig keys the method sets under it (absent: nothing)."""
    diagnostics: Diagnostics = Diagnostics()
    """What the report draws of the method (:class:`Diagnostics`)."""
    cost: float | None = None
    """Seconds a step relative to supervised (1-thread steps/s of the default network,
    bench/results/where_time_goes.txt); None: unknown, scheduled as the costliest. Only the order of
    the `train` stage uses it: the longest runs start first, so the workers end close together."""
    lesson_lr: float | None = None
    """The step size of the lessons' runs (``ssfer_study.lessons.kit``: 1,500 steps, 50 labels per
    class, the shared protocol), chosen on the kit's validation faces (docs/teaching.md); None: FixMatch's."""


METHODS: Registry[MethodDef] = Registry("method", "method")


def register_method(name: str, sections: dict[str, type] | None = None, net: dict | None = None,
                    protocols: dict[str, dict] | None = None, diagnostics: Diagnostics = Diagnostics(),
                    cost: float | None = None, lesson_lr: float | None = None):
    """Decorator registering a method factory under ``name`` (see the module docstring)."""
    def deco(fn):
        doc = (fn.__doc__ or "").strip().splitlines()
        METHODS.add(name, MethodDef(name, fn, dict(sections or {}), PLAIN_HEAD if net is None else net,
                                    doc[0] if doc else "", dict(protocols or {}), diagnostics, cost, lesson_lr))
        return fn
    return deco


USB_RECIPE = {"optimizer": "sgd", "lr": 0.03, "weight_decay": 5e-4, "schedule": "cosine", "ema": 0.999,
              "ema_warmup": True, "ema_state": "parameters", "live_decay": 0.0, "forward_passes": "joint",
              "amp": False}
"""USB's FixMatch recipe (SGD 0.03 nesterov, cosine, weight decay 5e-4, EMA 0.999): the official
protocol of supervised and FixMatch, and the optimiser family of the shared protocol; float32, as USB
trains by default."""


def settings_sections() -> dict[str, type]:
    """Every section any registered method reads: name -> settings class (one class per name)."""
    out: dict[str, type] = {}
    for d in METHODS._items.values():
        for key, cls in d.sections.items():
            if out.setdefault(key, cls) is not cls:
                raise ValueError(f"section {key!r} is declared with two settings classes: {out[key]} and {cls}")
    return out
