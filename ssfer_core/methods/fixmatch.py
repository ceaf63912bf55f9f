"""FixMatch (Sohn et al. 2020), USB's classic defaults: a confident weak-view prediction
(max prob >= 0.95) becomes the hard target for the strong view; L = L_s + lambda_u * L_u with L_u
averaged over the whole unlabeled batch.

``leaf_plugin=True`` (registry name ``leaf+fixmatch``): LEAF's mixtures of experts in the network
and LEAF's category-level positive/negative loss on the same confidence mask.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from ssfer_core import pseudo
from ssfer_core.methods.base import SSLMethod, leaf_category_kwargs



# ----------------------------------------------------------------------------- settings (USB's get_argument, as a dataclass)
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


class FixMatch(SSLMethod):
    unlabeled_views = ("weak", "strong")

    def __init__(self, cfg, model, info, leaf_plugin: bool = False):
        super().__init__(cfg, model, info)
        self.leaf_plugin = leaf_plugin

    @staticmethod
    def net_defaults(cfg, leaf_plugin: bool = False) -> dict:
        if leaf_plugin:
            return {"dropout": 0.0, "l2_normalize": True, "semantic_moe": "pooled", "instance_moe": True}
        return SSLMethod.net_defaults(cfg)

    def train_step(self, labeled, unlabeled, step):
        c = self.cfg.fixmatch
        (out_l, out_w, out_s), balance = self.forward_views(
            [labeled["x"], unlabeled["weak"], unlabeled["strong"]])
        loss_s = F.cross_entropy(out_l["logits"], labeled["y"])
        with torch.no_grad():
            probs = pseudo.sharpen(out_w["logits"].float().softmax(-1), c.temperature)
            mask, _, hard = pseudo.threshold_mask(probs, c.threshold)
        if self.leaf_plugin:
            loss_u, _ = pseudo.category_level_loss(out_s["logits"], probs, mask, **leaf_category_kwargs(self.cfg))
        else:
            target = hard if c.hard_label else probs
            loss_u = pseudo.masked_cross_entropy(out_s["logits"], target, mask, "batch")
        loss = loss_s + c.lambda_u * loss_u + self.balance_term(balance)
        logs = {"loss_s": loss_s.item(), "loss_u": loss_u.item(), "mask_rate": mask.mean().item()}
        logs["pseudo"] = {"pl_": (probs, mask)}
        return loss, logs
