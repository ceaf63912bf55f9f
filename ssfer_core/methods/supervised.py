"""Supervised baseline: cross-entropy on the labeled weak view only; unlabeled data unused."""
from __future__ import annotations

import torch.nn.functional as F

from ssfer_core.methods.base import RunContext, SSLMethod
from ssfer_core.methods.registry import PLAIN_HEAD, USB_RECIPE, register_method


class Supervised(SSLMethod):
    unlabeled_views = ()

    def train_step(self, labeled, unlabeled, step):
        (out,) = self.forward_views([labeled["x"]])
        loss_s = F.cross_entropy(out["logits"], labeled["y"])
        return loss_s, {"loss_s": loss_s.item()}


@register_method("supervised", net=PLAIN_HEAD, protocols={"official": USB_RECIPE}, cost=1.0, lesson_lr=0.01)
def supervised(model, ctx: RunContext) -> Supervised:
    """Labeled images only (the lower baseline)."""
    return Supervised(None, model, ctx)
