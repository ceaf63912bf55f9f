"""LEAF (Zhang et al., CVIU 2025): hierarchical expression-aware aggregation.

* semantic and instance levels: mixtures of experts in the network (models/leaf_blocks.py); the
  released code's experts are one tied residual MLP, so its gates are inert (``net.experts``).
  Their switches are the network's (``net.semantic_moe``, ``net.instance_moe``), one per level;
* category level: the two weak views give a pseudo-label distribution (mean of their softmaxes:
  argmax and confidence mask) and the positive / negative sets (``set_source``; the release takes
  them from the softmax of the mean of the two views' logits); the strong view is trained so that
  every positive class outscores every negative one, weighted by how clear the split is, rescaled
  to the hard-label CE, and scaled by the pass rate (``masking='global'``, the release) or masked
  per sample;
* a contrastive term on the two weak views of the samples the mask rejects.

    L = 0.5 * CE(labeled) + L_u(category) + 0.1 * L_con (+ net.balance_coef * balance, 0 in the release)

Thresholds (``threshold_rule='adaptive'``): Ada-CM's per-class rule, max(0.8, 0.97 * mean
confidence of correctly-predicted labeled samples of the class / (1 + e^-epoch)), 0.8 for a class
with none. ``threshold_source='ema_labeled'`` (the release) measures it once per epoch with the
evaluation (EMA) model over the whole labeled set (weak views; the release's labeled loader
augments too); ``live_batches`` accumulates the live model's labeled batches during the epoch (no
extra pass; not the release).

The release runs one forward per view in the order weak, weak2, labeled, strong
(``forward_passes: per_view`` in the official recipe); tests/test_official.py checks one
whole training step against numbers recorded from the released code.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from ssfer_core import pseudo
from ssfer_core.methods.base import RunContext, SSLMethod
from ssfer_core.methods.registry import (COSINE_HEAD, LEAF_EXPERTS, SELECTED, DiagnosticFigure, Diagnostics, Panel,
                                         register_method)
from ssfer_core.methods.unlabeled import CategoryLevelLoss, HardLabelLoss, UnlabeledLoss



# ----------------------------------------------------------------------------- settings (USB's get_argument, as a dataclass)
@dataclass
class LeafConfig:
    category: bool = True
    """Category-level positive/negative ambiguous pseudo-labels; off = hard-label CE on the mask."""
    mass: float = 0.9
    """Cumulative probability that closes the positive set."""
    max_positive: int = 3
    """Largest positive set (official: 3, from the top-4 classes)."""
    consistent_sets: bool = False
    """False: official quirk (mass tested on i+1 classes, set holds i); True: mass tested on the set itself."""
    weighting: Literal["concave", "linear", "convex", "none"] = "concave"
    """Per-sample weight: concave | linear | convex | none."""
    masking: Literal["global", "per_sample"] = "global"
    """global (release: every unlabeled sample trains on its ambiguous label, the term is scaled by
    the pass rate) | per_sample (only samples that pass train)."""
    set_source: Literal["mean_logits", "mean_probs"] = "mean_logits"
    """Where the positive / negative sets come from: mean_logits (release: softmax of the mean of the
    two weak views' logits) | mean_probs (the mean of their softmaxes, like the mask)."""
    threshold_rule: Literal["adaptive", "fixed"] = "adaptive"
    """adaptive (Ada-CM per-class thresholds from labeled confidences) | fixed (``fixed_threshold``)."""
    threshold_source: Literal["ema_labeled", "live_batches"] = "ema_labeled"
    """ema_labeled (release: the evaluation model over the labeled set once per epoch) |
    live_batches (the live model's labeled batches of the epoch)."""
    fixed_threshold: float = 0.8
    """Threshold for threshold_rule=fixed and the floor of the adaptive ones."""
    labeled_weight: float = 1.0
    """Weight of the labeled cross-entropy: 1, with the release's ratios 0.5 : 1 : 0.1 kept in the
    other two (the release: 0.5, see ``OFFICIAL``)."""
    unlabeled_weight: float = 2.0
    """Weight of the category-level term (the release: 1)."""
    contrastive_weight: float = 0.2
    """SupCon weight on the unconfident samples' two weak views (0 disables; the release: 0.1)."""
    contrastive_temperature: float = 0.07
    """SupCon temperature."""


class Leaf(SSLMethod):
    unlabeled_views = ("weak", "weak2", "strong")

    def __init__(self, settings: LeafConfig, model, ctx: RunContext, unlabeled_loss: UnlabeledLoss):
        super().__init__(settings, model, ctx)
        self.unlabeled_loss = unlabeled_loss
        k = ctx.num_classes
        self.register_buffer("thresholds", torch.full((k,), settings.fixed_threshold))
        self.register_buffer("conf_sum", torch.zeros(k))
        self.register_buffer("conf_count", torch.zeros(k))

    @torch.no_grad()
    def end_epoch(self, logits: torch.Tensor, labels: torch.Tensor, epoch: int) -> None:
        """The release's refresh: the evaluation model's logits on the labeled set (the loop calls
        this once per epoch for methods with ``needs_labeled_logits``)."""
        c = self.settings
        self.thresholds.copy_(pseudo.thresholds_from_predictions(logits, labels, epoch, c.fixed_threshold))

    @property
    def needs_labeled_logits(self) -> bool:
        c = self.settings
        return c.threshold_rule == "adaptive" and c.threshold_source == "ema_labeled"

    @torch.no_grad()
    def update_thresholds(self, logits_l: torch.Tensor, y: torch.Tensor, step: int) -> None:
        c = self.settings
        if c.threshold_rule == "fixed" or c.threshold_source != "live_batches":
            return
        sums, counts = pseudo.correct_confidence(logits_l, y)
        self.conf_sum += sums
        self.conf_count += counts
        if (step + 1) % self.ctx.steps_per_epoch == 0:
            epoch = (step + 1) // self.ctx.steps_per_epoch
            seen = self.conf_count > 0
            mean = torch.where(seen, self.conf_sum / self.conf_count.clamp_min(1), self.thresholds)
            self.thresholds.copy_(pseudo.adaptive_thresholds(mean, epoch, c.fixed_threshold))
            self.conf_sum.zero_()
            self.conf_count.zero_()

    def train_step(self, labeled, unlabeled, step):
        c = self.settings
        out_w1, out_w2, out_l, out_s = self.forward_views(  # the release's order
            [unlabeled["weak"], unlabeled["weak2"], labeled["x"], unlabeled["strong"]])
        y = labeled["y"]
        loss_x = F.cross_entropy(out_l["logits"], y)
        self.update_thresholds(out_l["logits"].detach(), y, step)
        with torch.no_grad():
            l1, l2 = out_w1["logits"].float(), out_w2["logits"].float()
            probs = (l1.softmax(-1) + l2.softmax(-1)) / 2
            set_probs = ((l1 + l2) / 2).softmax(-1) if c.set_source == "mean_logits" else probs
            mask, _, _ = pseudo.threshold_mask(probs, self.thresholds)
        loss_u, logs = self.unlabeled_loss(out_s["logits"], probs, mask, set_probs)
        loss_con = out_l["logits"].new_zeros(())
        rejected = mask == 0
        if c.contrastive_weight > 0 and rejected.sum() >= 2:
            loss_con = pseudo.supcon_loss(out_w1["feature"][rejected], out_w2["feature"][rejected],
                                          c.contrastive_temperature)
        loss = c.labeled_weight * loss_x + c.unlabeled_weight * loss_u + c.contrastive_weight * loss_con
        logs.update({"loss_s": loss_x.item(), "loss_u": loss_u.item(), "loss_con": loss_con.item(),
                     "threshold_mean": self.thresholds.mean().item()})
        logs["pseudo"] = {"pl_": (probs, mask)}
        return loss, logs


def leaf_unlabeled_loss(leaf: LeafConfig) -> UnlabeledLoss:
    """The category level, or (``leaf.category: false``) the hard-label CE on the same mask."""
    return CategoryLevelLoss.from_settings(leaf) if leaf.category else HardLabelLoss("batch")


OFFICIAL = {"optimizer": "adam", "lr": 5e-4, "weight_decay": 0.0, "schedule": "constant", "ema": 0.999,
            "ema_warmup": False, "ema_state": "state_dict", "live_decay": 0.02 * 5e-4, "forward_passes": "per_view",
            "amp": False, "augment": "official",
            "net": {"experts": "tied_residual", "gating": "topk", "top_k": 1, "noisy_gating": True,
                    "balance_coef": 0.0, "logit_scale": 1.0},
            "leaf": {"labeled_weight": 0.5, "unlabeled_weight": 1.0, "contrastive_weight": 0.1}}
"""The release's recipe (zfkarl/LEAF 7873d3a, Code_LEAF/main.py defaults): Adam 5e-4 (x batch/16 =
1 at batch 16), no schedule, float32, its views (``augment: official``), ``WeightEMA`` 0.999 with its hidden decay 0.02 * lr, one forward per
view, tied residual experts with noisy top-1 gates, L = 0.5 CE + L_u + 0.1 SupCon. The loop and
network keys are listed in full (they override a profile's); of LEAF's own settings only those
whose default (the shared protocol's value) differs."""


POSITIVE_SETS = DiagnosticFigure(
    "positive_sets", "LEAF: positive-set size and recall (every unlabeled sample, before any threshold)",
    (Panel("classes in the positive set (mean)", {"size": "positive_set_size"}),
     Panel("share holding the true class", {"recall": "pl_positive_recall"}, ylim=(0, 1.02))),
    "LEAF's category level: how many classes its positive set keeps, and how often the true class is among them.",
    every_seed=True)
DIAGNOSTICS = Diagnostics(sources=(SELECTED,), set_recall=("pl_positive_recall", "positive_set_size"),
                          figures=(POSITIVE_SETS,))
"""The category level's positive sets: how often they hold the true class, against chance, over training."""


@register_method("leaf", sections={"leaf": LeafConfig}, net=COSINE_HEAD | LEAF_EXPERTS,
                 protocols={"official": OFFICIAL}, diagnostics=DIAGNOSTICS, cost=3.1, lesson_lr=0.03)
def leaf(model, ctx: RunContext, leaf: LeafConfig) -> Leaf:
    """Gated experts at semantic and instance level; positive/negative ambiguous pseudo-labels."""
    return Leaf(leaf, model, ctx, leaf_unlabeled_loss(leaf))
