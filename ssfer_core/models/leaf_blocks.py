"""LEAF's semantic- and instance-level decoupling: mixtures of experts fused by learnable gates.

Gating follows the release's sparsely-gated MoE (Shazeer et al. 2017): noisy top-k gating
(clean logits ``x W_g`` plus Gaussian noise of std ``softplus(x W_n) + 0.01`` at train time,
softmax over the k largest logits, zeros elsewhere), log-space combination
``log(sum_e g_e exp(expert_e(x)))``, and the load-balancing loss ``cv^2(importance) + cv^2(load)``.

Three expert designs (``net.experts``):

* ``tied_residual`` -- **the released code** (zfkarl/LEAF 7873d3a, ``models/backbone.py``,
  ``Instance_MoE``): ONE ``ResExpert`` (``x + Linear(d, d/2) -> ReLU -> Linear(d/2, d)``) placed in
  all expert slots. With k = 1 the gate value is the softmax of one logit, i.e. exactly 1, and the
  log-space combine returns the expert's output, so each "mixture" is ``x + MLP(x)``: routing changes
  nothing and the gate weights receive no gradient. We compute the gates anyway (same noise draws as
  the release, so a seeded run consumes the random stream as the release does; the gate statistics are
  shown in the analysis) and return ``log(exp(x + MLP(x)) * sum_e g_e)`` as the release's combine does
  (tests/test_official.py checks a whole training step against the release's numbers to 1e-5).
* ``residual`` -- the paper's reading with the release's expert shape: independent ``ResExpert`` modules.
* ``linear`` -- independent ``Linear(d, d)`` experts (the unused ``Semantic_MoE`` class of the release).
All independent experts are evaluated densely with one batched matmul (8 small experts are cheaper
that way than dispatching), which gives the same output as the sparse dispatcher.

Decoupled components (our reading, documented as a choice): the gate-selected mixture is the
**expression-relevant** component; the **expression-agnostic** component is the complement
mixture, the experts weighted by ``1 - g_e`` (normalised): for top-1 gates that is the mean of the
experts the gate did *not* select, and for dense gates it stresses the experts the gate turns down.
With tied experts both components are the same vector: the released network does not decouple.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

RELEASE_EPS = 2.220446049250313e-16
"""``np.finfo(float).eps``: what the released MoE combine puts in place of an exact 0 before its log."""


def cv_squared(x: torch.Tensor) -> torch.Tensor:
    """Squared coefficient of variation; 0 for a single value."""
    if x.numel() <= 1:
        return x.new_zeros(())
    x = x.float()
    return x.var() / (x.mean() ** 2 + 1e-10)


class ResExpert(nn.Module):
    """The released code's expert: ``x + Linear(d, d/2) -> ReLU -> Linear(d/2, d)``."""

    def __init__(self, d: int):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(d, d // 2), nn.ReLU(), nn.Linear(d // 2, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc(x)


class BatchedExperts(nn.Module):
    """``num_experts`` independent experts, all evaluated at once: ``[N, d] -> [N, E, d_out]``.
    ``residual`` experts have the release's ``ResExpert`` shape; ``linear`` ones are ``Linear(d, d_out)``."""

    def __init__(self, d_in: int, d_out: int, num_experts: int, residual: bool):
        super().__init__()
        if residual and d_in != d_out:
            raise ValueError(f"residual experts need d_in == d_out, got {d_in} and {d_out}")
        self.residual = residual
        hidden = d_in // 2 if residual else d_out
        self.weight = nn.Parameter(_uniform((num_experts, d_in, hidden), d_in))
        self.bias = nn.Parameter(_uniform((num_experts, hidden), d_in))
        if residual:
            self.weight2 = nn.Parameter(_uniform((num_experts, hidden, d_out), hidden))
            self.bias2 = nn.Parameter(_uniform((num_experts, d_out), hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.einsum("ni,eio->neo", x, self.weight) + self.bias
        if not self.residual:
            return h
        return x.unsqueeze(1) + torch.einsum("neh,eho->neo", h.relu(), self.weight2) + self.bias2


def _uniform(shape: tuple[int, ...], fan_in: int) -> torch.Tensor:
    """nn.Linear's default initialisation range."""
    bound = 1 / math.sqrt(fan_in)
    return torch.empty(shape).uniform_(-bound, bound)


EXPERT_DESIGNS = ("tied_residual", "residual", "linear")


class MixtureOfExperts(nn.Module):
    """Experts fused by a top-k or dense gate, on ``[N, d_in]`` inputs (``experts``: see the module doc)."""

    def __init__(self, d_in: int, d_out: int, num_experts: int = 8, k: int = 1, gating: str = "topk",
                 noisy: bool = True, experts: str = "linear"):
        super().__init__()
        if gating not in ("topk", "dense"):
            raise ValueError(f"gating must be 'topk' or 'dense', got {gating!r}")
        if not 1 <= k <= num_experts:
            raise ValueError(f"top_k must be in 1..{num_experts}, got {k}")
        if experts not in EXPERT_DESIGNS:
            raise ValueError(f"experts must be one of {EXPERT_DESIGNS}, got {experts!r}")
        self.num_experts, self.k, self.gating, self.noisy, self.design = num_experts, k, gating, noisy, experts
        if experts == "tied_residual":
            if d_in != d_out:
                raise ValueError(f"tied residual experts need d_in == d_out, got {d_in} and {d_out}")
            self.expert = ResExpert(d_in)
            # The release's structure: the same module in every slot. It matters beyond routing: the
            # release's EMA step walks the state_dict, where the expert appears num_experts + 1 times.
            self.experts = nn.ModuleList([self.expert for _ in range(num_experts)])
        else:
            self.experts = BatchedExperts(d_in, d_out, num_experts, residual=experts == "residual")
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
        # no argument check: a diverged run's NaN logits must reach the trainer's "loss became nan ...
        # lower the lr" check instead of stopping here with a support error (finite values: identical)
        normal = torch.distributions.Normal(0.0, 1.0, validate_args=False)
        p_in = normal.cdf((clean - thr_in) / std)
        p_out = normal.cdf((clean - thr_out) / std)
        return torch.where(noisy > thr_in, p_in, p_out)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        gates, load = self.gate(x)
        balance = cv_squared(gates.sum(0)) + cv_squared(load)
        if self.design == "tied_residual":  # every slot holds the same expert: the mixture is its output,
            # through the release's own log-space round trip (log(sum_e g_e exp(y)), sum_e g_e = 1), so
            # that even the float rounding of the gradients is the release's
            combined = torch.exp(self.expert(x)) * gates.sum(1, keepdim=True)
            # the release's floor (SparseDispatcher.combine): an output that underflowed to 0 (below about
            # -104 in float32) becomes float64's eps before the log, i.e. -36.04, not -inf
            y = torch.where(combined == 0, combined.new_tensor(RELEASE_EPS), combined).log()
            return {"out": y, "agnostic": y, "gates": gates, "balance": balance}
        outs = self.experts(x)  # N, E, d_out
        # log(sum_e g_e exp(y_e)), stable: logsumexp over y_e + log g_e (experts with g_e=0 drop out)
        relevant = torch.logsumexp(outs + torch.log(gates.clamp_min(1e-30)).unsqueeze(-1), dim=1)
        complement = 1 - gates  # top-1: exactly the unselected experts; dense: what the gate turns down
        agnostic = (outs * complement.unsqueeze(-1)).sum(1) / complement.sum(1, keepdim=True).clamp_min(1e-12)
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
