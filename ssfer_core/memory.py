"""SIT-FER's Instance Memory Buffer: unit-norm features and labels of labeled samples (and,
optionally, of confident pseudo-labeled samples), queried for per-class similarity scores.

Official code: one slot per labeled sample, overwritten with its latest train-mode feature each
time it is seen; class score = max cosine over that class's slots, floored at 0. Vectorised here
(``scatter_reduce(amax)``) instead of the official O(B*K) Python loop.
"""
from __future__ import annotations

import torch
import torch.nn as nn


class InstanceMemory(nn.Module):
    def __init__(self, n_labeled: int, dim: int, num_classes: int, pseudo_slots: int = 0):
        super().__init__()
        size = n_labeled + pseudo_slots
        self.n_labeled, self.num_classes = n_labeled, num_classes
        self.register_buffer("features", torch.zeros(size, dim))
        self.register_buffer("labels", torch.zeros(size, dtype=torch.long))
        self.register_buffer("filled", torch.zeros(size, dtype=torch.bool))
        self.register_buffer("cursor", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def write_labeled(self, idx: torch.Tensor, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Overwrite the slots of labeled samples ``idx`` (positions within the labeled set)."""
        self.features[idx] = features.detach().float()
        self.labels[idx] = labels
        self.filled[idx] = True

    @torch.no_grad()
    def write_pseudo(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Append confident pseudo-labeled features into the FIFO region after the labeled slots."""
        n_slots = self.features.shape[0] - self.n_labeled
        if n_slots <= 0 or features.shape[0] == 0:
            return
        features, labels = features[-n_slots:], labels[-n_slots:]
        pos = (self.cursor + torch.arange(features.shape[0], device=features.device)) % n_slots
        slot = self.n_labeled + pos
        self.features[slot] = features.detach().float()
        self.labels[slot] = labels
        self.filled[slot] = True
        self.cursor.copy_((self.cursor + features.shape[0]) % n_slots)

    @torch.no_grad()
    def class_scores(self, query: torch.Tensor, mode: str = "max", topk: int = 3) -> torch.Tensor:
        """Per-class score ``[N, C]``: the max (or mean of the top-k) cosine to that class's slots,
        floored at 0; 0 for a class with no filled slot."""
        feats, labels = self.features[self.filled], self.labels[self.filled]
        n, c = query.shape[0], self.num_classes
        if feats.shape[0] == 0:
            return query.new_zeros(n, c)
        # float32 under autocast too: bf16 keeps ~3 digits, too few to rank cosines near each other,
        # and scatter_reduce needs its source in the buffer's dtype
        with torch.autocast(query.device.type, enabled=False):
            sim = query.float() @ feats.T  # N, K
        if mode == "max":
            out = torch.full((n, c), float("-inf"), device=query.device)
            out = out.scatter_reduce(1, labels.expand(n, -1), sim, reduce="amax")
        elif mode == "mean_topk":
            out = torch.full((n, c), float("-inf"), device=query.device)
            for k in range(c):
                s = sim[:, labels == k]
                if s.shape[1]:
                    out[:, k] = s.topk(min(topk, s.shape[1]), dim=1).values.mean(1)
        else:
            raise ValueError(f"instance score mode must be max or mean_topk, got {mode!r}")
        return out.clamp_min(0.0).nan_to_num(0.0, neginf=0.0)
