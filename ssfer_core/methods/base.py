"""What every method shares: the data facts it may use, one concatenated forward, diagnostics."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn


@dataclass
class DataInfo:
    num_classes: int
    n_labeled: int
    steps: int
    steps_per_epoch: int
    cache_dir: str = "cache"


class SSLMethod(nn.Module):
    """Base class: subclasses define ``unlabeled_views``, ``net_defaults`` and ``train_step``.

    ``train_step(labeled, unlabeled, step)`` gets dicts of tensors (labeled: ``x``, ``y``, ``idx``;
    unlabeled: one entry per view name, never the hidden labels) and returns ``(loss, logs)``:
    floats, plus ``logs['pseudo']`` = {prefix: (probs, mask)} for the pseudo-labels it made (and
    LEAF's ``positive_sets``), which the trainer scores against the hidden labels.
    """

    unlabeled_views: tuple[str, ...] = ("weak", "strong")

    def __init__(self, cfg, model: nn.Module, info: DataInfo):
        super().__init__()
        self.cfg, self.model, self.info = cfg, model, info

    @staticmethod
    def net_defaults(cfg, **kwargs) -> dict:
        return {"dropout": 0.0, "l2_normalize": False, "semantic_moe": "off", "instance_moe": False}

    def forward_views(self, views: list[torch.Tensor]) -> tuple[list[dict], torch.Tensor]:
        """One forward over the concatenated views (BN sees them together, as in FixMatch);
        returns per-view output dicts and the load-balancing loss of the whole batch."""
        sizes = [v.shape[0] for v in views]
        x = torch.cat(views)
        if self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        out = self.model(x)
        parts = [dict() for _ in views]
        for k, v in out.items():
            if v.dim() and v.shape[0] == sum(sizes):
                for p, chunk in zip(parts, v.split(sizes)):
                    p[k] = chunk
        return parts, out["balance"]

    def balance_term(self, balance: torch.Tensor) -> torch.Tensor:
        return self.cfg.net.balance_coef * balance

    @torch.no_grad()
    def predict(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities used for evaluation (``model`` may be the EMA copy)."""
        return model(x)["logits"].float().softmax(-1)

    def train_step(self, labeled: dict, unlabeled: dict, step: int) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError


def pseudo_label_stats(prefix: str, probs: torch.Tensor, mask: torch.Tensor, y_true: torch.Tensor | None) -> dict:
    """Coverage (mask rate) and accuracy of pseudo-labels against the hidden true labels. Images
    without a true label (extra unlabeled faces, label -1) count for coverage, not for accuracy."""
    logs = {f"{prefix}coverage": mask.float().mean().item()}
    if y_true is not None:
        known = y_true >= 0
        if known.any():
            correct = (probs.argmax(-1) == y_true).float()[known]
            logs[f"{prefix}acc"] = correct.mean().item()
            kept = mask.float()[known]
            if kept.sum() > 0:
                logs[f"{prefix}acc_masked"] = (correct * kept).sum().item() / kept.sum().item()
    return logs


def leaf_category_kwargs(cfg) -> dict:
    """The ``leaf`` config fields that ``pseudo.category_level_loss`` takes (LEAF and its plug-ins)."""
    l = cfg.leaf
    return {"mass": l.mass, "max_positive": l.max_positive, "consistent": l.consistent_sets,
            "weighting": l.weighting}
