"""Pure functions for pseudo-labelling: thresholding, masking, sharpening, level fusion (SIT-FER),
positive/negative ambiguous pseudo-labels (LEAF), and the losses built on them.

Nothing here holds state; every function is unit-tested on hand-computed inputs.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


# ----------------------------------------------------------------------------- FixMatch family
def sharpen(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """p^(1/T) renormalised; T=1 is the identity."""
    if temperature == 1.0:
        return probs
    p = probs ** (1.0 / temperature)
    return p / p.sum(-1, keepdim=True)


def threshold_mask(probs: torch.Tensor, threshold: float | torch.Tensor, strict: bool = False
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mask as float, confidence, argmax). ``threshold`` may be per class (``[C]``):
    each sample is then tested against the threshold of its predicted class. A sample passes at
    ``confidence >= threshold`` (FixMatch's rule), or ``>`` with ``strict`` (the SIT-FER release's)."""
    conf, label = probs.max(-1)
    thr = threshold[label] if isinstance(threshold, torch.Tensor) and threshold.dim() == 1 else threshold
    return (conf > thr if strict else conf >= thr).float(), conf, label


def masked_cross_entropy(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                         reduction: str = "batch") -> torch.Tensor:
    """CE against hard (``[N]``) or soft (``[N, C]``) targets, masked.

    ``reduction="batch"`` divides by N (FixMatch); ``"selected"`` divides by the number of
    selected samples (official SIT-FER) and is 0 when none passes.
    """
    if target.dim() == 1:
        ce = F.cross_entropy(logits, target, reduction="none")
    else:
        ce = -(target * F.log_softmax(logits, -1)).sum(-1)
    total = (ce * mask).sum()
    if reduction == "batch":
        return total / max(1, logits.shape[0])
    if reduction == "selected":
        return total / mask.sum().clamp_min(1.0)
    raise ValueError(f"reduction must be batch or selected, got {reduction!r}")


# ----------------------------------------------------------------------------- SIT-FER fusion
def fuse_official(sem_logits: torch.Tensor | None, text_scores: torch.Tensor | None,
                     ins_scores: torch.Tensor | None, weights: tuple[float, ...]) -> torch.Tensor:
    """Official code: softmax(w_sem * logits + w_text * cosines + w_ins * instance scores).

    A level passed as None is left out (its weight ignored)."""
    z = 0.0
    for part, w in zip((sem_logits, text_scores, ins_scores), weights):
        if part is not None:
            z = z + w * part
    if isinstance(z, float):
        raise ValueError("fusion needs at least one level")
    return z.softmax(-1)


def fuse_paper_mean(levels: list[torch.Tensor]) -> torch.Tensor:
    """Paper: p_hat = mean of the level probabilities (each already a distribution)."""
    if not levels:
        raise ValueError("fusion needs at least one level")
    return torch.stack(levels).mean(0)


# ----------------------------------------------------------------------------- LEAF category level
def ambiguous_sets(probs: torch.Tensor, mass: float = 0.9, max_positive: int = 3,
                   consistent: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split classes into a positive set (may be) and a negative set (is not) per sample.

    Official rule: sort the classes; for i in 1..max_positive take the smallest i whose top-(i+1)
    cumulative probability reaches ``mass`` (else i = max_positive); positives are the top i.
    ``consistent=True`` tests the top-i mass instead (the set that is kept).
    Returns (positive mask ``[N, C]`` bool, set size i ``[N]``, sorted probs ``[N, C]``).
    """
    sorted_p, order = probs.sort(-1, descending=True)
    cum = sorted_p.cumsum(-1)
    i = torch.arange(1, max_positive + 1, device=probs.device)
    tested = cum[:, i] if not consistent else cum[:, i - 1]  # top-(i+1) or top-i mass
    reached = tested >= mass
    first = torch.where(reached.any(1), reached.float().argmax(1) + 1,
                        torch.full_like(reached[:, 0], max_positive, dtype=torch.long))
    ranks = torch.arange(probs.shape[1], device=probs.device).expand_as(probs)
    pos_sorted = ranks < first.unsqueeze(1)
    positive = torch.zeros_like(pos_sorted).scatter(1, order, pos_sorted)
    return positive, first, sorted_p


def positive_negative_loss(logits: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """softplus(logsumexp_{pos}(-z) + logsumexp_{neg}(z)) per sample: every positive class should
    score above every negative one. ``[N]``."""
    neg_inf = torch.finfo(logits.dtype).min
    lse_pos = torch.logsumexp(torch.where(positive, -logits, neg_inf), -1)
    lse_neg = torch.logsumexp(torch.where(positive, neg_inf, logits), -1)
    return F.softplus(lse_pos + lse_neg)


def ambiguity_weight(sorted_probs: torch.Tensor, set_size: torch.Tensor, kind: str = "concave") -> torch.Tensor:
    """Per-sample weight from the gap between the top-(i+1) mean and the (i+1)-th probability.

    m = mean of the top i+1 probabilities, p = the (i+1)-th; concave: log(1 + 50 (m - p)) /
    log(1 + 50 m); linear: (m - p) / m; convex: ((m - p) / m)^2; none: 1. Capped at 1.
    """
    if kind == "none":
        return torch.ones_like(sorted_probs[:, 0])
    cum = sorted_probs.cumsum(-1)
    m = cum.gather(1, set_size.unsqueeze(1)).squeeze(1) / (set_size + 1).float()
    p = sorted_probs.gather(1, set_size.unsqueeze(1)).squeeze(1)
    gap = (m - p).clamp_min(0)
    if kind == "concave":
        w = torch.log1p(50 * gap) / torch.log1p(50 * m).clamp_min(1e-8)
    elif kind == "linear":
        w = gap / m.clamp_min(1e-8)
    elif kind == "convex":
        w = (gap / m.clamp_min(1e-8)) ** 2
    else:
        raise ValueError(f"unknown weighting {kind!r}")
    return w.clamp(max=1.0)


def category_level_loss(strong_logits: torch.Tensor, pseudo_probs: torch.Tensor, mask: torch.Tensor,
                        mass: float = 0.9, max_positive: int = 3, consistent: bool = False,
                        weighting: str = "concave", set_probs: torch.Tensor | None = None,
                        masking: str = "global") -> tuple[torch.Tensor, dict]:
    """LEAF's unlabeled loss on the strong view: the weighted positive/negative loss, rescaled by the
    detached ratio CE(strong, argmax pseudo_probs).mean() / its own mean, then masked.

    ``set_probs``: the distribution the positive / negative sets and weights come from (the release:
    softmax of the mean of the two weak views' logits; default ``pseudo_probs``). ``masking``:
    ``global`` (the release: ``Lu = mean(loss * w)``, a scalar, times ``ratio * mask.mean()``; every
    sample trains on its ambiguous label and the pass rate scales the term) | ``per_sample`` (only
    the samples that pass train: ``mean(loss * w * ratio * mask)``).
    """
    positive, size, sorted_p = ambiguous_sets(pseudo_probs if set_probs is None else set_probs, mass,
                                              max_positive, consistent)
    pn = positive_negative_loss(strong_logits, positive) * ambiguity_weight(sorted_p, size, weighting)
    ce = F.cross_entropy(strong_logits, pseudo_probs.argmax(-1), reduction="none")
    ratio = (ce.mean() / pn.mean().clamp_min(1e-8)).detach()
    if masking == "global":
        loss = pn.mean() * ratio * mask.float().mean()
    elif masking == "per_sample":
        loss = (pn * ratio * mask).mean()
    else:
        raise ValueError(f"masking must be global or per_sample, got {masking!r}")
    return loss, {"positive_set_size": size.float().mean().item(), "positive": positive}


def adaptive_thresholds(mean_conf: torch.Tensor, epoch: int, floor: float = 0.8) -> torch.Tensor:
    """Ada-CM / LEAF per-class thresholds: max(floor, 0.97 * mean confidence / (1 + e^-epoch))."""
    return torch.clamp(0.97 * mean_conf / (1 + math.exp(-epoch)), min=floor)


def correct_confidence(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per class: the summed softmax confidence of the correctly predicted samples, and their count."""
    conf, pred = logits.float().softmax(-1).max(-1)
    ok = pred == labels
    c = logits.shape[1]
    sums = conf.new_zeros(c).index_add(0, labels[ok], conf[ok])
    return sums, conf.new_zeros(c).index_add(0, labels[ok], torch.ones_like(conf[ok]))


def thresholds_from_predictions(logits: torch.Tensor, labels: torch.Tensor, epoch: int,
                                floor: float = 0.8) -> torch.Tensor:
    """The LEAF release's ``adaptive_threshold_generate``: from a model's logits on the labeled set,
    each class's mean confidence over its correctly predicted samples goes through
    :func:`adaptive_thresholds`; a class with no correct prediction gets ``floor``."""
    sums, counts = correct_confidence(logits, labels)
    thr = adaptive_thresholds(sums / counts.clamp_min(1), epoch, floor)
    return torch.where(counts > 0, thr, torch.full_like(thr, floor))


def supcon_loss(f1: torch.Tensor, f2: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """Contrastive loss over two views' normalised features; each sample's positive is its other
    view (SupCon with no labels = SimCLR's NT-Xent). Returns 0 for fewer than 2 samples."""
    n = f1.shape[0]
    if n < 2:
        return f1.new_zeros(())
    z = F.normalize(torch.cat([f1, f2]), dim=1)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)
