"""FixMatch (Sohn et al. 2020), USB's classic defaults: a confident weak-view prediction
(max prob >= 0.95) becomes the hard target for the strong view; L = L_s + lambda_u * L_u with L_u
averaged over the whole unlabeled batch.

The unlabeled loss is an object the registry hands in (``methods/unlabeled.py``): plain FixMatch
gets the hard-label cross-entropy, ``leaf+fixmatch`` (``methods/plugins.py``) LEAF's category level.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ssfer_core import pseudo
from ssfer_core.methods.base import RunContext, SSLMethod
from ssfer_core.methods.registry import PLAIN_HEAD, SELECTED, USB_RECIPE, Diagnostics, register_method
from ssfer_core.methods.unlabeled import HardLabelLoss, UnlabeledLoss


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

    def __init__(self, settings: FixMatchConfig, model, ctx: RunContext, unlabeled_loss: UnlabeledLoss):
        super().__init__(settings, model, ctx)
        self.unlabeled_loss = unlabeled_loss

    def train_step(self, labeled, unlabeled, step):
        c = self.settings
        out_l, out_w, out_s = self.forward_views(
            [labeled["x"], unlabeled["weak"], unlabeled["strong"]])
        loss_s = F.cross_entropy(out_l["logits"], labeled["y"])
        with torch.no_grad():
            probs = pseudo.sharpen(out_w["logits"].float().softmax(-1), c.temperature)
            mask, _, _ = pseudo.threshold_mask(probs, c.threshold)
        loss_u, logs = self.unlabeled_loss(out_s["logits"], probs, mask)
        loss = loss_s + c.lambda_u * loss_u
        logs |= {"loss_s": loss_s.item(), "loss_u": loss_u.item()}
        logs["pseudo"] = {"pl_": (probs, mask)}
        return loss, logs


@register_method("fixmatch", sections={"fixmatch": FixMatchConfig}, net=PLAIN_HEAD,
                 protocols={"official": USB_RECIPE}, diagnostics=Diagnostics(sources=(SELECTED,)),
                 cost=2.2, lesson_lr=0.01)
def fixmatch(model, ctx: RunContext, fixmatch: FixMatchConfig) -> FixMatch:
    """Confident weak-view predictions as hard targets for the strong view (USB defaults)."""
    return FixMatch(fixmatch, model, ctx, HardLabelLoss("batch", hard=fixmatch.hard_label))
