"""Dataclass configs (CleanRL style: a docstring under every field) and dotted overrides.

``TrainConfig`` holds the data, network, optimisation and loop settings plus one section per
method (``fixmatch``, ``sitfer``, ``leaf``). ``apply_overrides(cfg, ["sitfer.fusion=paper_mean"])``
sets nested fields from strings, parsed as YAML scalars.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from ssfer_core.methods.fixmatch import FixMatchConfig
from ssfer_core.methods.leaf import LeafConfig
from ssfer_core.methods.sitfer import SitferConfig


@dataclass
class DataConfig:
    dataset: Literal["synthfacs", "rafdb", "fer2013", "ferplus", "affectnet", "sfew", "imagefolder"] = "synthfacs"
    """Reader name: synthfacs | rafdb | fer2013 | ferplus | affectnet | sfew | imagefolder
    (layouts in the README's real-data section; check a copy with `ssfer data check`)."""
    root: str = "data/synthfacs"
    """Dataset root (for synthfacs: where `ssfer synth` wrote it)."""
    num_classes: int = 7
    """7 basic classes or 8 with contempt."""
    image_size: int = 48
    """Side of the model input in pixels (images are resized once, at load time)."""
    split_protocol: Literal["per_class", "fraction", "adacm", "sitfer_code"] = "per_class"
    """per_class | fraction | adacm | sitfer_code (see data/splits.py)."""
    labels_per_class: int = 10
    """Labeled images per class for split_protocol=per_class."""
    label_fraction: float = 0.1
    """Labeled fraction of each class for split_protocol=fraction."""
    n_labeled: int = 0
    """Total labels for the adacm / sitfer_code protocols."""
    split_seed: int = 0
    """Seed of the labeled/unlabeled split (kept apart from the training seed)."""
    val_size: int = 0
    """Training images carved out as a validation split (saved and hashed with the split); they
    are neither labeled nor unlabeled. Defaults are chosen on it (``eval_on=val``)."""
    split_dir: str = "data/splits"
    """Where split CSVs (+ .sha256) are saved and reused."""
    cache_dir: str = "cache"
    """Where decoded image tensors are cached."""
    on_bad_image: Literal["skip", "error"] = "skip"
    """skip (warn with a count) | error, for missing or corrupt images."""
    bgr: bool = False
    """Feed BGR like the official cv2 pipelines (only for their MS-Celeb checkpoint)."""
    extra_train: str = ""
    """Optional folder of extra *unlabeled* face images (any depth; jpg/png/bmp/webp), added to the
    unlabeled pool of every semi-supervised run; never labeled, never in validation or test. ''
    for none."""
    face_box: bool = True
    """AffectNet: crop each image to the CSV's face box (face_x, face_y, face_width, face_height)
    when the CSV has those columns; false for images that are already cropped."""


@dataclass
class NetConfig:
    backbone: str = "synth_cnn"
    """Registry name, timm:<name> or open_clip:<name> (models/backbones.py)."""
    norm: Literal["bn", "gn"] = "bn"
    """synth_cnn* normalisation: bn | gn (GroupNorm: batch-independent, exact DDP equivalence)."""
    weights: str | None = None
    """None (random init) | a local checkpoint path | 'hub' (download; falls back with a warning)."""
    dropout: float | None = None
    """Dropout on the pooled feature; None lets the method decide (0.5 for sitfer/leaf)."""
    l2_normalize: bool | None = None
    """L2-normalise the feature before the classifier; None lets the method decide."""
    semantic_moe: Literal["off", "pooled", "map"] | None = None
    """LEAF semantic level: off | pooled (official code) | map (1x1-conv experts on the feature map)."""
    instance_moe: bool | None = None
    """LEAF instance level: a mixture of experts on the normalised feature."""
    logit_scale: float = 1.0
    """Multiplies the logits when the feature is L2-normalised (a cosine classifier's scale, as in
    NormFace). 1.0 is the official code, whose logits stay near-uniform until the classifier
    weights have grown over tens of thousands of steps; short budgets need ~16."""
    num_experts: int = 8
    """Experts per mixture (official: 8)."""
    top_k: int = 1
    """Experts kept per input by top-k gating (official: 1)."""
    gating: Literal["topk", "dense"] = "topk"
    """topk (noisy top-k, Shazeer et al. 2017) | dense (softmax over all experts)."""
    noisy_gating: bool = True
    """Add the learned Gaussian gate noise at train time."""
    balance_coef: float = 1e-2
    """Load-balancing loss weight (cv^2 of importance + load); the official code computes but never adds it."""


@dataclass
class TrainConfig:
    method: str = "fixmatch"
    """supervised | fixmatch | sitfer | leaf | leaf+fixmatch | leaf+sitfer."""
    seed: int = 0
    """Training seed (init, batches, augmentation)."""
    data: DataConfig = field(default_factory=DataConfig)
    net: NetConfig = field(default_factory=NetConfig)
    fixmatch: FixMatchConfig = field(default_factory=FixMatchConfig)
    sitfer: SitferConfig = field(default_factory=SitferConfig)
    leaf: LeafConfig = field(default_factory=LeafConfig)
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
    """EMA decay of the evaluation model (0 disables)."""
    amp: bool = True
    """bfloat16/float16 autocast on CUDA (ignored on CPU)."""
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
    pad_frac: float = 0.125
    """Padding of the random crop, as a fraction of the image side."""
    randaugment_ops: int = 2
    """Ops per strong view."""


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


class ConfigError(ValueError):
    """A configuration value that cannot be used: unknown key, wrong type or unknown choice.
    The message is one line naming the key, the value and what is allowed."""


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


def validate(cfg: "TrainConfig") -> "TrainConfig":
    """Checks that span fields or need the registries (run before any data is read)."""
    from ssfer_core.methods import METHODS

    if cfg.method not in METHODS:
        raise ConfigError(f"method={cfg.method!r} is not allowed: expected one of: {', '.join(sorted(METHODS))}")
    for key in ("steps", "batch_size", "mu", "steps_per_epoch", "eval_every", "log_every", "ckpt_every"):
        if getattr(cfg, key) < 1:
            raise ConfigError(f"{key}={getattr(cfg, key)!r} is not allowed: expected an integer >= 1")
    if cfg.data.labels_per_class < 1 and cfg.data.split_protocol == "per_class":
        raise ConfigError(f"data.labels_per_class={cfg.data.labels_per_class!r} is not allowed: expected >= 1")
    if cfg.eval_on == "val" and cfg.data.val_size <= 0:
        raise ConfigError("eval_on='val' needs a validation split: set data.val_size (e.g. 1000)")
    return cfg


def from_dict(d: dict, base: TrainConfig | None = None) -> TrainConfig:
    cfg = base or TrainConfig()
    for k, v in (d or {}).items():
        _set(cfg, k, v)
    return cfg


def apply_overrides(cfg: TrainConfig, overrides: list[str]) -> TrainConfig:
    """Apply ``key=value`` strings; each value is parsed as a YAML scalar or list, then checked."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"-S {item!r} must look like key=value")
        k, v = item.split("=", 1)
        _set(cfg, k.strip(), yaml.safe_load(v))
    return cfg
