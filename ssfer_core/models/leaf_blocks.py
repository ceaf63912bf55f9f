"""LEAF's semantic- and instance-level decoupling: mixtures of experts fused by learnable gates.

Follows the official code's sparsely-gated MoE (Shazeer et al. 2017): linear experts, noisy top-k
gating (clean logits ``x W_g`` plus Gaussian noise of std ``softplus(x W_n) + 0.01`` at train
time, softmax over the k largest logits, zeros elsewhere), log-space combination
``log(sum_e g_e exp(expert_e(x)))``, and the load-balancing loss ``cv^2(importance) + cv^2(load)``.
All experts are evaluated densely with one batched matmul (8 small experts are cheaper that way
than dispatching), which gives the same output as the sparse dispatcher.

Decoupled components (our reading, documented as a choice): the gate-selected mixture is the
**expression-relevant** component; the **expression-agnostic** component is the complement
mixture, the experts weighted by ``1 - g_e`` (normalised): for top-1 gates that is the mean of the
experts the gate did *not* select, and for dense gates it stresses the experts the gate turns down
(a plain "unselected" mean would be empty there). The analysis probes both (study/analysis.py).

Quirk of the official code, reproduced with the defaults (k=1, gate weights initialised to 0): with
one expert per input the softmax gate value is always 1, so the task loss never reaches the gate;
only the load-balancing term (which the official code forgets to add) trains it. ``balance_coef``
is on by default here; ``k>1`` or ``gating='dense'`` lets the task loss train the gate too.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def cv_squared(x: torch.Tensor) -> torch.Tensor:
    """Squared coefficient of variation; 0 for a single value."""
    if x.numel() <= 1:
        return x.new_zeros(())
    x = x.float()
    return x.var() / (x.mean() ** 2 + 1e-10)


class MixtureOfExperts(nn.Module):
    """Experts ``Linear(d_in, d_out)`` fused by a top-k or dense gate, on ``[N, d_in]`` inputs."""

    def __init__(self, d_in: int, d_out: int, num_experts: int = 8, k: int = 1, gating: str = "topk",
                 noisy: bool = True):
        super().__init__()
        if gating not in ("topk", "dense"):
            raise ValueError(f"gating must be 'topk' or 'dense', got {gating!r}")
        if not 1 <= k <= num_experts:
            raise ValueError(f"top_k must be in 1..{num_experts}, got {k}")
        self.num_experts, self.k, self.gating, self.noisy = num_experts, k, gating, noisy
        bound = 1 / math.sqrt(d_in)
        self.weight = nn.Parameter(torch.empty(num_experts, d_in, d_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(num_experts, d_out).uniform_(-bound, bound))
        self.w_gate = nn.Parameter(torch.zeros(d_in, num_experts))
        self.w_noise = nn.Parameter(torch.zeros(d_in, num_experts))

    def gate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (gates ``[N, E]``, load ``[E]``)."""
        clean = x @ self.w_gate
        if self.gating == "dense":
            g = clean.softmax(-1)
            return g, g.sum(0)
        noisy_on = self.noisy and self.training
        if noisy_on:
            std = F.softplus(x @ self.w_noise) + 0.01
            logits = clean + torch.randn_like(clean) * std
        else:
            logits = clean
        m = min(self.k + 1, self.num_experts)
        top_val, top_idx = logits.topk(m, dim=1)
        gates = torch.zeros_like(logits).scatter(1, top_idx[:, : self.k], top_val[:, : self.k].softmax(1))
        if noisy_on and self.k < self.num_experts:
            load = self._prob_in_top_k(clean, logits, std, top_val).sum(0)
        else:
            load = (gates > 0).float().sum(0)
        return gates, load

    def _prob_in_top_k(self, clean, noisy, std, top_val):
        """Differentiable probability that each expert is in the top k under fresh noise."""
        thr_in = top_val[:, self.k : self.k + 1]
        thr_out = top_val[:, self.k - 1 : self.k]
        normal = torch.distributions.Normal(0.0, 1.0)
        p_in = normal.cdf((clean - thr_in) / std)
        p_out = normal.cdf((clean - thr_out) / std)
        return torch.where(noisy > thr_in, p_in, p_out)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        gates, load = self.gate(x)
        outs = torch.einsum("ni,eio->neo", x, self.weight) + self.bias  # N, E, d_out
        # log(sum_e g_e exp(y_e)), stable: logsumexp over y_e + log g_e (experts with g_e=0 drop out)
        relevant = torch.logsumexp(outs + torch.log(gates.clamp_min(1e-30)).unsqueeze(-1), dim=1)
        complement = 1 - gates  # top-1: exactly the unselected experts; dense: what the gate turns down
        agnostic = (outs * complement.unsqueeze(-1)).sum(1) / complement.sum(1, keepdim=True).clamp_min(1e-12)
        balance = cv_squared(gates.sum(0)) + cv_squared(load)
        return {"out": relevant, "agnostic": agnostic, "gates": gates, "balance": balance}


class MapMixtureOfExperts(nn.Module):
    """The semantic-level variant on a feature map: 1x1-conv experts gated at every location."""

    def __init__(self, channels: int, **kw):
        super().__init__()
        self.moe = MixtureOfExperts(channels, channels, **kw)

    def forward(self, fmap: torch.Tensor) -> dict[str, torch.Tensor]:
        b, c, h, w = fmap.shape
        flat = fmap.permute(0, 2, 3, 1).reshape(b * h * w, c)
        r = self.moe(flat)
        unflat = lambda t: t.reshape(b, h, w, -1).permute(0, 3, 1, 2)  # noqa: E731
        return {"out": unflat(r["out"]), "agnostic": unflat(r["agnostic"]),
                "gates": r["gates"].reshape(b, h, w, -1), "balance": r["balance"]}
