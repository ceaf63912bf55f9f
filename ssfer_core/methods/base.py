"""What every method shares: the run facts it may use, one concatenated forward, diagnostics."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn


@dataclass(frozen=True)
class RunContext:
    """The few facts of a run a method may read besides its own settings (built in one place,
    :func:`ssfer_core.build.run_context`)."""

    num_classes: int
    """Classes of the dataset (7, or 8 with contempt)."""
    n_labeled: int
    """Labeled training images (SIT-FER's memory has one slot each)."""
    steps: int
    """Optimiser steps of the run (for warm-ups given as a fraction of training)."""
    steps_per_epoch: int
    """Steps in an 'epoch' (LEAF's adaptive thresholds are refreshed once per epoch)."""
    seed: int = 0
    """Training seed (SIT-FER's `random` text encoder draws its class vectors from it)."""
    channels_last: bool = False
    """Inputs in channels-last memory format, as the network is."""
    cache_dir: str = "cache"
    """Where text embeddings are cached."""
    forward_passes: str = "joint"
    """joint (one forward over all views: BN sees them together, as in FixMatch / USB) | per_view
    (one forward per view, in the order the method lists them: the SIT-FER and LEAF releases)."""


class SSLMethod(nn.Module):
    """Base class: subclasses set ``unlabeled_views`` and define ``train_step``.

    ``train_step(labeled, unlabeled, step)`` gets dicts of tensors (labeled: ``x``, ``y``, ``idx``;
    unlabeled: one entry per view name, never the hidden labels) and returns ``(loss, logs)``:
    floats, plus ``logs['pseudo']`` = {prefix: (probs, mask)} for the pseudo-labels it made (and
    ``logs['positive_sets']`` from LEAF's category level), which the trainer scores against the
    hidden labels.
    """

    unlabeled_views: tuple[str, ...] = ("weak", "strong")

    def __init__(self, settings, model: nn.Module, ctx: RunContext):
        super().__init__()
        self.settings, self.model, self.ctx = settings, model, ctx
        self._aux_loss: torch.Tensor | None = None

    def forward_views(self, views: list[torch.Tensor]) -> list[dict]:
        """Per-view output dicts. ``ctx.forward_passes``: one forward over the concatenated views (BN
        statistics of the whole batch) or one per view, in list order (BN statistics and dropout /
        gate-noise draws per view, as the official loops do). The network's auxiliary loss (its
        experts' load balancing) is kept for the trainer, which adds it (:meth:`pop_aux_loss`): a
        method's loss is its own terms only."""
        if self.ctx.forward_passes == "per_view":
            outs = [self._forward(v) for v in views]
            for o in outs:
                self._add_aux(o)
            return outs
        sizes = [v.shape[0] for v in views]
        out = self._forward(torch.cat(views))
        self._add_aux(out)
        parts = [dict() for _ in views]
        for k, v in out.items():
            if v.dim() and v.shape[0] == sum(sizes):
                for p, chunk in zip(parts, v.split(sizes)):
                    p[k] = chunk
        return parts

    def _add_aux(self, out: dict) -> None:
        if "balance" in out:
            self._aux_loss = out["balance"] if self._aux_loss is None else self._aux_loss + out["balance"]

    def pop_aux_loss(self) -> torch.Tensor | None:
        """The network's auxiliary loss summed over this step's forwards (None: it has none), reset."""
        aux, self._aux_loss = self._aux_loss, None
        return aux

    def _forward(self, x: torch.Tensor) -> dict:
        return self.model(self.as_input(x))

    def as_input(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the memory format the network runs in (channels-last when it is)."""
        return x.contiguous(memory_format=torch.channels_last) if self.ctx.channels_last else x

    needs_eval_memory = False
    """True for a method whose predictor reads the labeled set (SIT-FER's instance level): the
    trainer then calls :meth:`prepare_predict` before each evaluation."""

    def prepare_predict(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> None:
        """Called before each evaluation of ``model`` with the labeled set (normalised) when
        ``needs_eval_memory``; SIT-FER builds the evaluated model's own instance memory."""

    needs_labeled_logits = False
    """True for a method whose ``end_epoch(logits, labels, epoch)`` wants the evaluation model's
    logits on the labeled set once per epoch (LEAF's release-style thresholds)."""

    def end_epoch(self, logits: torch.Tensor, labels: torch.Tensor, epoch: int) -> None:
        """Once per epoch, for methods with ``needs_labeled_logits``; nothing by default."""

    @torch.no_grad()
    def predict(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities used for evaluation (``model`` may be the EMA copy)."""
        return model(x)["logits"].float().softmax(-1)

    def train_step(self, labeled: dict, unlabeled: dict, step: int) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError


PASS_RATE, PASS_ACC = "pass_rate", "pass_acc"
"""The two numbers every pseudo-label source logs (after its prefix, e.g. ``pl_pass_rate``): the share
of the unlabeled batch it passes ("share passed") and the accuracy of what it passes against the
hidden labels ("accuracy of what passes")."""


def pseudo_label_stats(prefix: str, probs: torch.Tensor, mask: torch.Tensor, y_true: torch.Tensor | None) -> dict:
    """A source's share passed (:data:`PASS_RATE`), the accuracy of its argmax on every sample
    (``<prefix>acc``) and of what it passes (:data:`PASS_ACC`) against the hidden true labels. Images
    without a true label (extra unlabeled faces, label -1) count for the share passed, not for accuracy."""
    logs = {f"{prefix}{PASS_RATE}": mask.float().mean().item()}
    if y_true is not None:
        known = y_true >= 0
        if known.any():
            correct = (probs.argmax(-1) == y_true).float()[known]
            logs[f"{prefix}acc"] = correct.mean().item()
            kept = mask.float()[known]
            if kept.sum() > 0:
                logs[f"{prefix}{PASS_ACC}"] = (correct * kept).sum().item() / kept.sum().item()
    return logs
