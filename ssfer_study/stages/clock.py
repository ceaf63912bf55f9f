"""What a release's clock lets its method do: when SIT-FER's official fusion can first pass a face.

The release fuses raw scores, z = w_sem (W q + b) + w_text (T q) + w_ins s_ins, and passes a face
when max softmax(z) > tau. For the passing class k, softmax(z)_k > tau needs
sum_{j != k} exp(z_j - z_k) < (1 - tau) / tau, and by Jensen that sum is at least
(C - 1) exp(-(z_k - mean_{j != k} z_j)): a face can pass only if, for its class k,

    z_k - mean_{j != k} z_j > L = ln((C - 1) tau / (1 - tau)).

With q a unit vector, the instance scores in [0, 1] (the release floors its cosines at 0) and
Cauchy-Schwarz, z_k - mean_{j != k} z_j <= w_sem G_k + w_text |t_k - mean_{j != k} t_j| + w_ins,
where G_k = |w_k - mean_{j != k} w_j| + b_k - mean_{j != k} b_j is the head's gap for class k. So no
face can pass while every G_k is under (L - w_text |t_k - t_bar_k| - w_ins) / w_sem: the head has to
grow that far first, and under Adam at 1e-4 it grows slowly (``reports/official``).
"""
from __future__ import annotations

import math

import torch


def head_gaps(weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """G_k for each class ``[C]``: the distance of row k from the mean of the other rows, plus the
    bias's margin over the others' mean."""
    c = weight.shape[0]
    others = (weight.sum(0, keepdim=True) - weight) / (c - 1)
    gaps = (weight - others).norm(dim=1)
    if bias is not None:
        gaps = gaps + bias - (bias.sum() - bias) / (c - 1)
    return gaps


def required_head_gap(text: torch.Tensor, weights: tuple[float, ...], threshold: float) -> torch.Tensor:
    """For each class k ``[C]``, the head gap G_k under which no face can pass the official fusion
    as class k (the module docstring). ``text``: the unit class vectors ``[C, D]``; ``weights``:
    (w_sem, w_text) before the instance level switches on, (w_sem, w_text, w_ins) after."""
    c = text.shape[0]
    w_sem, w_text, w_ins = (*weights, 0.0)[:3]
    bound = math.log((c - 1) * threshold / (1 - threshold))
    text_gap = (text - (text.sum(0, keepdim=True) - text) / (c - 1)).norm(dim=1)
    return (bound - w_text * text_gap - w_ins) / w_sem


def can_pass(weight: torch.Tensor, bias: torch.Tensor | None, text: torch.Tensor, weights: tuple[float, ...],
             threshold: float) -> bool:
    """Whether any face could pass: some class's head gap reaches what it needs."""
    return bool((head_gaps(weight, bias) >= required_head_gap(text, weights, threshold)).any())
