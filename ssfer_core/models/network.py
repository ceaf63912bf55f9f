"""The FER network: backbone -> [semantic MoE] -> pool -> dropout -> [L2] -> [instance MoE] -> linear.

One module serves every method; the switches come from ``NetConfig`` (filled in by the method for
fields left at None). The forward returns a dict so methods and analyses can pick what they need:
``logits``; ``feature`` (the embedding after the semantic level, L2-normalised when configured; used
by SIT-FER's text and instance levels and by LEAF's contrastive term); ``pooled`` (backbone pooled
feature); ``relevant_*`` / ``agnostic_*`` components and ``gates_*`` of each LEAF level;
``balance`` (sum of the experts' load-balancing losses; only on a network with experts).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ssfer_core.models.config import NetConfig
from ssfer_core.models.backbones import create_backbone
from ssfer_core.models.leaf_blocks import MapMixtureOfExperts, MixtureOfExperts


class FERNet(nn.Module):
    def __init__(self, cfg: NetConfig, num_classes: int):
        super().__init__()
        self.cfg = cfg
        kw = {"norm": cfg.norm} if cfg.backbone.startswith("synth_cnn") else {}
        self.backbone, dim = create_backbone(cfg.backbone, cfg.weights, **kw)
        self.feat_dim = dim
        moe = dict(num_experts=cfg.num_experts, k=cfg.top_k, gating=cfg.gating, noisy=cfg.noisy_gating,
                   experts=cfg.experts)
        self.semantic = None
        if cfg.semantic_moe == "map":
            self.semantic = MapMixtureOfExperts(dim, **moe)
        elif cfg.semantic_moe == "pooled":
            self.semantic = MixtureOfExperts(dim, dim, **moe)
        elif cfg.semantic_moe not in (None, "off"):
            raise ValueError(f"semantic_moe must be off | pooled | map, got {cfg.semantic_moe!r}")
        self.instance = MixtureOfExperts(dim, dim, **moe) if cfg.instance_moe else None
        self.dropout = nn.Dropout(cfg.dropout or 0.0)
        self.classifier = nn.Linear(dim, num_classes)
        self.text_width = None
        if cfg.text_dim is not None:  # SIT-FER's projection into its text space (the forward does not use it)
            self.text_width = cfg.text_dim or dim
            self.text_proj = nn.Identity() if self.text_width == dim else nn.Linear(dim, self.text_width)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        balance = x.new_zeros(())
        fmap = self.backbone(x)
        if isinstance(self.semantic, MapMixtureOfExperts):
            r = self.semantic(fmap)
            fmap = r["out"]
            out["gates_semantic"] = r["gates"]
            out["agnostic_semantic"] = r["agnostic"].mean((2, 3))
            balance = balance + r["balance"]
        pooled = fmap.mean((2, 3))
        out["pooled"] = pooled
        h = self.dropout(pooled)
        if isinstance(self.semantic, MixtureOfExperts):
            r = self.semantic(h)
            h = r["out"]
            out["gates_semantic"] = r["gates"]
            out["agnostic_semantic"] = r["agnostic"]
            balance = balance + r["balance"]
        if self.semantic is not None:
            out["relevant_semantic"] = h
        feature = F.normalize(h, dim=1) if self.cfg.l2_normalize else h
        out["feature"] = feature
        h = feature
        if self.instance is not None:
            r = self.instance(h)
            h = r["out"]
            out["gates_instance"] = r["gates"]
            out["agnostic_instance"] = r["agnostic"]
            out["relevant_instance"] = h
            balance = balance + r["balance"]
        logits = self.classifier(h)
        # The scale belongs to a cosine head: only when the classifier reads the normalised feature.
        cosine_head = self.cfg.l2_normalize and self.instance is None
        out["logits"] = logits * self.cfg.logit_scale if cosine_head else logits
        if self.semantic is not None or self.instance is not None:
            out["balance"] = balance
        return out
