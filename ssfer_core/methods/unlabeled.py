"""Unlabeled-loss objects: what a host method does with the strong view once it has pseudo-labels.

A host (FixMatch, SIT-FER, LEAF) makes its pseudo-label distribution and confidence mask, then
calls ``loss(strong_logits, probs, mask) -> (loss, logs)``. Plugging LEAF's category level into
another method is composition: the registry hands the host a :class:`CategoryLevelLoss` instead of
a :class:`HardLabelLoss` (``methods/plugins.py``); the host has no branch for it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import torch

from ssfer_core import pseudo


class UnlabeledLoss(Protocol):
    def __call__(self, strong_logits: torch.Tensor, probs: torch.Tensor, mask: torch.Tensor,
                 set_probs: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]: ...
    """``probs``: the host's pseudo-label distribution (argmax and mask come from it);
    ``set_probs``: where a set-valued loss takes its sets from, when the host has another (LEAF)."""


@dataclass(frozen=True)
class HardLabelLoss:
    """Cross-entropy of the strong view against the (argmax) pseudo-label, masked.
    ``reduction``: batch (divide by the batch, FixMatch) | selected (by the passed samples, SIT-FER)."""

    reduction: Literal["batch", "selected"] = "batch"
    hard: bool = True  # False: the whole distribution is the target

    def __call__(self, strong_logits, probs, mask, set_probs=None):
        target = probs.argmax(-1) if self.hard else probs
        return pseudo.masked_cross_entropy(strong_logits, target, mask, self.reduction), {}


@dataclass(frozen=True)
class CategoryLevelLoss:
    """LEAF's category level: positive / negative ambiguous pseudo-labels (``pseudo.category_level_loss``).
    Logs the mean positive-set size and the sets themselves (the trainer scores their recall)."""

    mass: float = 0.9
    max_positive: int = 3
    consistent: bool = False
    weighting: str = "concave"
    masking: str = "global"

    @classmethod
    def from_settings(cls, leaf) -> "CategoryLevelLoss":
        """From a :class:`~ssfer_core.methods.leaf.LeafConfig`."""
        return cls(leaf.mass, leaf.max_positive, leaf.consistent_sets, leaf.weighting, leaf.masking)

    def __call__(self, strong_logits, probs, mask, set_probs=None):
        loss, info = pseudo.category_level_loss(strong_logits, probs, mask, self.mass, self.max_positive,
                                                self.consistent, self.weighting, set_probs, self.masking)
        return loss, {"positive_set_size": info["positive_set_size"], "positive_sets": info["positive"]}
