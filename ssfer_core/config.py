"""A run's whole configuration and its checked, dotted overrides (CleanRL style: a docstring under
every field, in the class that owns it).

``TrainConfig`` = the loop's own fields (``LoopConfig``, below) + ``data`` (:class:`DataConfig`,
data/config.py) + ``net`` (:class:`NetConfig`, models/config.py) + one section per method settings
class (``fixmatch``, ``sitfer``, ``leaf``: each defined next to its method). This module is where the
pieces meet; it imports the parts, never the other way round.

:func:`compose_config` is the one way a run's config is made, by the CLI (``ssfer train``), the
study's stages, the training notebook and the lessons alike: a profile's ``train:`` base, its
per-method block, the method's protocol recipe, the run's overlay, then ``key=value`` overrides
(``-S sitfer.fusion=paper_mean``: parsed as YAML scalars, checked against the field types).
"""
from __future__ import annotations

import copy
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from ssfer_core.data.config import DataConfig
from ssfer_core.data.datasets import DATASETS
from ssfer_core.devices import check_device_name
from ssfer_core.errors import ConfigError
from ssfer_core.methods import METHODS
from ssfer_core.methods.fixmatch import FixMatchConfig
from ssfer_core.methods.leaf import LeafConfig
from ssfer_core.methods.sitfer import SitferConfig
from ssfer_core.models.config import NetConfig

__all__ = ["ConfigError", "DataConfig", "NetConfig", "TrainConfig", "apply_overrides", "compose_config", "from_dict",
           "method_view", "resolve_net_defaults", "to_dict", "validate"]


@dataclass
class LoopConfig:
    """The training loop's own fields (``TrainConfig`` adds the method sections)."""

    method: str = "fixmatch"
    """A registered method (ssfer_core/methods): supervised | fixmatch | sitfer | leaf |
    leaf+fixmatch | leaf+sitfer."""
    seed: int = 0
    """Training seed (init, batches, augmentation)."""
    protocol: Literal["shared", "official"] = "shared"
    """shared (the profile's one recipe for every method, each method's loss weights normalised so
    the labeled CE has weight 1, its lr chosen on the validation split) | official (the method's
    released recipe: optimiser, lr, loss weights, thresholds, EMA; ``protocols`` in its registry
    entry). A run's own keys still apply on top."""
    device: str = "cpu"
    """auto (CUDA when there is one, else the CPU) | cpu | cuda | cuda:N. Part of the run's identity:
    a run asked to train on a GPU stops if there is none (``ssfer_core.devices``), never falls back."""
    data: DataConfig = field(default_factory=DataConfig)
    net: NetConfig = field(default_factory=NetConfig)
    steps: int = 1000
    """Optimiser steps."""
    steps_per_epoch: int = 100
    """Steps in an 'epoch' (for warm-ups and adaptive thresholds)."""
    batch_size: int = 16
    """Labeled batch size (global, split over DDP ranks)."""
    mu: int = 4
    """Unlabeled batch = mu * batch_size (USB: 7; official SIT-FER/LEAF: 1)."""
    optimizer: Literal["sgd", "adam"] = "sgd"
    """sgd (nesterov, USB) | adam (official SIT-FER / LEAF)."""
    lr: float = 0.03
    """Learning rate."""
    weight_decay: float = 5e-4
    """Weight decay, not applied to biases and norm parameters."""
    schedule: Literal["cosine", "constant"] = "cosine"
    """cosine (FixMatch: lr * cos(7 pi k / 16 K)) | constant."""
    ema: float = 0.999
    """EMA decay of the evaluation model (0 disables: the live model is evaluated, as SIT-FER's release)."""
    ema_warmup: bool = True
    """Warm the EMA decay up as min(ema, (1 + step) / (10 + step)) (USB / timm style); false: a
    fixed decay from step 1 (the LEAF release's ``WeightEMA``)."""
    ema_state: Literal["parameters", "state_dict"] = "parameters"
    """parameters (EMA of the parameters, BN statistics copied: USB / timm) | state_dict (the LEAF
    release's ``WeightEMA``: every float32 entry of the state_dict, BN statistics included, is
    averaged and then decayed by ``live_decay``, entry by entry; a module held in several slots, as
    the tied expert is, is averaged and decayed once per slot: 9 times a step)."""
    live_decay: float = 0.0
    """Multiply the live model's float weights and buffers by (1 - live_decay) each step: the LEAF
    release's hidden weight decay inside ``WeightEMA.step`` (0.02 * lr = 1e-5 there)."""
    forward_passes: Literal["joint", "per_view"] = "joint"
    """joint (one forward over all views, as FixMatch / USB) | per_view (one forward per view: BN
    statistics per view, as the SIT-FER and LEAF releases)."""
    amp: bool = True
    """bfloat16 (float16 where bfloat16 is not supported) autocast on CUDA, in the shared protocol;
    ignored on the CPU. The official recipes set it false: both releases train in float32."""
    channels_last: bool = False
    """Keep the network and its inputs in channels-last memory format (faster convolutions on
    recent GPUs and with some CPU kernels; results are the same up to float rounding)."""
    eval_every: int = 200
    """Evaluate raw and EMA models on the test set every N steps (and at the end)."""
    log_every: int = 20
    """Log training metrics every N steps."""
    ckpt_every: int = 200
    """Write an atomic checkpoint every N steps."""
    eval_on: Literal["test", "val"] = "test"
    """test | val: the set evaluated during and after training. Choose settings with val (needs
    data.val_size > 0); read test once, for the reported numbers."""
    eval_batch: int = 512
    """Evaluation batch size."""
    threads: int = 0
    """torch CPU threads (0: leave torch's default)."""
    augment: Literal["batched", "official"] = "batched"
    """batched (USB / FixMatch views computed for the whole batch on the device: weak = flip + crop,
    strong = weak then ``randaugment_ops`` of 13 ops and Cutout, ``data/views.py``) | official (the
    LEAF and SIT-FER releases' views image by image with PIL: crop with p = 0.5 and zero fill, flip;
    strong = 3 of 14 ops, Equalize included, and Cutout before them, ``data/official_views.py``;
    ``pad_frac`` and ``randaugment_ops`` do not apply)."""
    pad_frac: float = 0.125
    """Padding of the random crop, as a fraction of the image side (``augment: batched``)."""
    randaugment_ops: int = 2
    """Ops per strong view (``augment: batched``)."""


@dataclass
class TrainConfig(LoopConfig):
    """A run's configuration: the loop's fields (:class:`LoopConfig`), ``data``, ``net`` and one
    section per method settings class (a test checks these are exactly the sections the method
    registry declares). Each section's defaults are the shared protocol's values (the main table's);
    a method's ``official`` recipe lists what the release changes."""

    fixmatch: FixMatchConfig = field(default_factory=FixMatchConfig)
    """FixMatch's settings (methods/fixmatch.py); read by fixmatch and leaf+fixmatch."""
    sitfer: SitferConfig = field(default_factory=SitferConfig)
    """SIT-FER's settings (methods/sitfer.py); read by sitfer and leaf+sitfer."""
    leaf: LeafConfig = field(default_factory=LeafConfig)
    """LEAF's settings (methods/leaf.py); read by leaf and both plug-ins."""

LOOP_FIELDS = tuple(f.name for f in dataclasses.fields(LoopConfig) if f.name not in ("data", "net"))


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def method_view(cfg) -> dict:
    """The part of ``cfg`` its run reads: the loop's fields, ``data``, ``net`` and only the sections
    of ``cfg.method`` (a FixMatch run does not read ``sitfer:``). This is what a study's training
    stage depends on, so a change to one method's settings re-runs that method's runs only."""
    d = to_dict(cfg)
    keep = set(LOOP_FIELDS) | {"data", "net"} | set(METHODS[cfg.method].sections)
    return {k: v for k, v in d.items() if k in keep}


def _describe(tp) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return "one of: " + ", ".join(map(str, args))
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    if origin is tuple:
        return f"a list of {len(args)} values, each {_describe(args[0])}"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def check_value(key: str, value: Any, tp) -> Any:
    """``value`` converted to the field type ``tp`` (int -> float, list -> tuple), or a ConfigError."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in (a for a in args if a is not type(None)):
            try:
                return check_value(key, value, a)
            except ConfigError:
                pass
    elif origin is Literal:
        if value in args:
            return value
    elif origin is tuple:
        if isinstance(value, (list, tuple)) and len(value) == len(args):
            return tuple(check_value(key, v, a) for v, a in zip(value, args))
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        return value
    raise ConfigError(f"{key}={value!r} is not allowed: expected {_describe(tp)}")


def _set(obj, key: str, value: Any, full: str | None = None) -> None:
    full = full or key
    head, _, rest = key.partition(".")
    if not dataclasses.is_dataclass(obj) or not hasattr(obj, head):
        fields = [f.name for f in dataclasses.fields(obj)] if dataclasses.is_dataclass(obj) else []
        raise ConfigError(f"unknown config key {full!r}; {type(obj).__name__} has: {', '.join(fields)}")
    current = getattr(obj, head)
    if rest:
        _set(current, rest, value, full)
        return
    if dataclasses.is_dataclass(current):
        if not isinstance(value, dict):
            raise ConfigError(f"{full}={value!r} is not allowed: {full} is a section; set its keys "
                              f"({full}.<key>=...) or give a mapping")
        for k, v in value.items():
            _set(current, k, v, f"{full}.{k}")
        return
    tp = typing.get_type_hints(type(obj))[head]
    setattr(obj, head, check_value(full, value, tp))


def validate(cfg):
    """Checks that span fields or need the registries (run before any data is read)."""
    METHODS[cfg.method]  # raises ConfigError naming the registered methods
    DATASETS[cfg.data.dataset]
    check_device_name(cfg.device)
    for key in ("steps", "batch_size", "mu", "steps_per_epoch", "eval_every", "log_every", "ckpt_every"):
        if getattr(cfg, key) < 1:
            raise ConfigError(f"{key}={getattr(cfg, key)!r} is not allowed: expected an integer >= 1")
    if cfg.data.labels_per_class < 1 and cfg.data.split_protocol == "per_class":
        raise ConfigError(f"data.labels_per_class={cfg.data.labels_per_class!r} is not allowed: expected >= 1")
    if cfg.eval_on == "val" and cfg.data.val_size <= 0:
        raise ConfigError("eval_on='val' needs a validation split: set data.val_size (e.g. 1000)")
    return cfg


def from_dict(d: dict, base=None):
    """A TrainConfig from a (nested) mapping of its keys, on top of ``base`` (default: the defaults)."""
    cfg = base or TrainConfig()
    for k, v in (d or {}).items():
        _set(cfg, k, v)
    return cfg


def compose_config(base: dict, overlay: dict | None = None, overrides: list[str] = (),
                   per_method: dict[str, dict] | None = None) -> TrainConfig:
    """A run's checked config, layered in this order (each layer lists only the keys it changes):

    1. ``base``: a profile's ``train:`` section (or any mapping of TrainConfig keys);
    2. ``per_method[method]``: the profile's block for the run's method (e.g. its lr);
    3. the method's protocol recipe (``METHODS[method].protocols[protocol]``: ``official`` is the
       release's recipe; the shared protocol is the defaults and changes nothing). A recipe lists
       its method's own settings only where the release differs from their defaults, so under it
       those sections start again from their defaults: a profile's ``train.sitfer`` never leaks
       into the release's SIT-FER (a run's overlay and overrides still apply);
    4. ``overlay``: the run's own keys;
    5. ``overrides``: ``key=value`` strings (``ssfer train -S``, a notebook's ``overrides``).

    ``method`` and ``protocol`` are read from layers 1, 4 and 5. The method's network defaults then
    fill the ``net`` fields left None and an unset ``data.split_seed`` becomes the run's seed, so
    the config a run records is the one it trains with."""
    def layered(method_block: dict, recipe: dict, release_sections: dict) -> TrainConfig:
        cfg = from_dict(copy.deepcopy(method_block), from_dict(copy.deepcopy(base)))
        for name, settings in release_sections.items():
            setattr(cfg, name, settings())
        cfg = from_dict(copy.deepcopy(recipe), cfg)
        return apply_overrides(from_dict(copy.deepcopy(overlay or {}), cfg), list(overrides))

    probe = layered({}, {}, {})
    d = METHODS[probe.method]  # an unknown method: the error names the registered ones
    recipe = d.protocols.get(probe.protocol, {})
    cfg = layered((per_method or {}).get(probe.method, {}), recipe, d.sections if recipe else {})
    return resolve_split_seed(resolve_net_defaults(validate(cfg)))


def resolve_split_seed(cfg: TrainConfig) -> TrainConfig:
    """``data.split_seed`` left None becomes the run's seed (in place; returns cfg)."""
    if cfg.data.split_seed is None:
        cfg.data.split_seed = cfg.seed
    return cfg


def resolve_net_defaults(cfg: TrainConfig) -> TrainConfig:
    """Fill the network fields left ``None`` with the method's defaults (in place; returns cfg)."""
    d = METHODS[cfg.method]
    for key, value in d.net_defaults({name: getattr(cfg, name) for name in d.sections}).items():
        if getattr(cfg.net, key) is None:
            setattr(cfg.net, key, value)
    return cfg


def apply_overrides(cfg, overrides: list[str]):
    """Apply ``key=value`` strings; each value is parsed as a YAML scalar or list, then checked."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"-S {item!r} must look like key=value")
        k, v = item.split("=", 1)
        _set(cfg, k.strip(), yaml.safe_load(v))
    return cfg
