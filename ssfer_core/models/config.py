"""The network's switches (``train.net`` in a profile); ``None`` fields are filled by the method's
network defaults (``ssfer_core/methods``), so the config a run records is the one it trained with."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


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
    """LEAF's semantic level: off | pooled (the release) | map (1x1-conv experts on the feature
    map). The one switch of that level (LEAF's semantic ablation is ``net.semantic_moe: "off"``)."""
    instance_moe: bool | None = None
    """LEAF's instance level: a mixture of experts on the normalised feature. The one switch of that
    level (LEAF's instance ablation is ``net.instance_moe: false``)."""
    logit_scale: float = 1.0
    """Multiplies the logits when the classifier's input is the L2-normalised feature (a cosine
    classifier's scale, as in NormFace; SIT-FER's head). Never applied behind LEAF's instance-level
    experts, whose output is not normalised (there it would only be a free temperature and a larger
    step on the head). 1.0 is the release."""
    experts: Literal["tied_residual", "residual", "linear"] = "tied_residual"
    """LEAF's expert design: tied_residual (released code: one residual MLP in every slot, so the
    gates are inert) | residual (independent residual MLPs) | linear (independent Linear(d, d))."""
    num_experts: int = 8
    """Experts per mixture (official: 8)."""
    top_k: int = 1
    """Experts kept per input by top-k gating (official: 1)."""
    gating: Literal["topk", "dense"] = "topk"
    """topk (noisy top-k, Shazeer et al. 2017) | dense (softmax over all experts)."""
    noisy_gating: bool = True
    """Add the learned Gaussian gate noise at train time."""
    text_dim: int | None = None
    """Width of a text space the feature is projected into (SIT-FER's text level; the method fills it
    from its text encoder): a learned Linear, the identity when the widths agree, 0 meaning the
    feature's own width (the release's random text vectors). None: no projection."""
    balance_coef: float = 0.0
    """Load-balancing loss weight (cv^2 of importance + load). 0 is the released code, which computes
    the term and never adds it; 1e-2 is the coefficient it computes with. The trainer adds it to every
method's loss (``train.add_aux_loss``)."""
