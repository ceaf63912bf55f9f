"""How the study reads a comparison of two rows: paired on the seed (the same seed draws the same
labeled split and initialisation for both), with one rule for every table.

- the mean paired difference and the half-width of its 95 % interval (Student's t over the pairs);
- the probability that the first row beats the second on a random seed (Bouthillier et al., MLSys
  2021, "Accounting for variance in machine learning benchmarks": the share of paired seeds it wins,
  a tie counting one half) with a 95 % bootstrap interval (``scipy.stats.bootstrap``);
- the seeds a paired 95 % interval of a given half-width would take at the observed spread;
- the verdict: ``shown`` when the interval excludes zero, and with one pair no verdict at all.

A family of claims read together (the papers' claims of one profile) is corrected for multiplicity
with Holm's step-down method on the paired t-tests' p-values (:func:`holm`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MAX_SEEDS = 20
"""The most seeds :func:`seeds_for` proposes; a comparison that needs more says so."""
TARGET_HALF_WIDTH = 2.0
"""The resolution a claim is read at: a paired 95 % interval of at most ± 2 points."""
ONE_SEED = "not decided (one seed)"


@dataclass(frozen=True)
class Paired:
    """A paired comparison of accuracies (points), first minus second."""
    diffs: tuple[float, ...]
    """One difference per paired seed, in seed order."""
    seeds: tuple[int, ...]
    mean: float
    ci95: float
    """Half-width of the 95 % interval of the mean difference (NaN with fewer than 2 pairs)."""
    p: float
    """Two-sided paired t-test p-value (NaN with fewer than 2 pairs)."""
    win: float
    """P(first beats second on a random seed): the share of pairs it wins, a tie counting 1/2."""
    win_ci: tuple[float, float] = field(default=(float("nan"), float("nan")))
    """95 % bootstrap interval of ``win`` (NaN with fewer than 3 pairs)."""

    @property
    def pairs(self) -> int:
        return len(self.diffs)

    @property
    def sd(self) -> float:
        return float(np.std(self.diffs, ddof=1)) if self.pairs > 1 else float("nan")

    def seeds_needed(self, half_width: float = TARGET_HALF_WIDTH) -> int | None:
        """Seeds for a paired 95 % interval of ``half_width`` at this comparison's spread."""
        return seeds_for(self.sd, half_width)

    def verdict(self, directed: bool = False) -> str:
        return verdict(self.mean, self.ci95, directed)


def paired(first: dict[int, float], second: dict[int, float]) -> Paired:
    """``first`` minus ``second`` (each: seed -> accuracy in points) over the seeds both have."""
    from scipy import stats

    seeds = tuple(sorted(set(first) & set(second)))
    d = np.array([first[s] - second[s] for s in seeds], dtype=float)
    if len(d) == 0:
        return Paired((), (), float("nan"), float("nan"), float("nan"), float("nan"))
    mean = float(d.mean())
    ci = p = float("nan")
    if len(d) > 1:
        sd = float(d.std(ddof=1))
        ci = float(stats.t.ppf(0.975, len(d) - 1) * sd / np.sqrt(len(d)))
        p = float(stats.ttest_1samp(d, 0.0).pvalue) if sd > 0 else (0.0 if mean != 0 else 1.0)
    win = float(np.mean((d > 0) + 0.5 * (d == 0)))
    win_ci = (float("nan"), float("nan"))
    if len(d) > 2 and len(set(np.sign(d))) > 1:
        res = stats.bootstrap(((d > 0) + 0.5 * (d == 0),), np.mean, confidence_level=0.95, method="percentile",
                              n_resamples=2000, random_state=0)
        win_ci = (float(res.confidence_interval.low), float(res.confidence_interval.high))
    elif len(d) > 2:  # every pair on one side: the bootstrap has nothing to resample; say so by the bound
        win_ci = (win, win)
    return Paired(tuple(float(x) for x in d), seeds, mean, ci, p, win, win_ci)


def seeds_for(sd: float, half_width: float = TARGET_HALF_WIDTH, cap: int = MAX_SEEDS) -> int | None:
    """The fewest seeds n (2 <= n <= ``cap``) whose paired 95 % interval, t(0.975, n - 1) * sd /
    sqrt(n), is at most ``half_width`` at spread ``sd``; None when even ``cap`` seeds are not enough
    (or the spread is unknown)."""
    from scipy import stats

    if sd != sd:
        return None
    for n in range(2, cap + 1):
        if stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n) <= half_width:
            return n
    return None


def verdict(mean: float, ci95: float, directed: bool = False) -> str:
    """How a paired difference reads: ``shown`` when its 95 % interval excludes 0, ``not shown``
    otherwise, and no verdict from one seed. ``directed`` reads a claim that ``mean`` > 0:
    ``shown`` above 0, ``contradicted`` when the interval lies below 0."""
    if ci95 is None or ci95 != ci95:
        return ONE_SEED
    if directed:
        return "shown" if mean - ci95 > 0 else "contradicted" if mean + ci95 < 0 else "not shown"
    return "shown" if abs(mean) > ci95 else "not shown"


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (NaN stays NaN and does not count): the
    k-th smallest of m is multiplied by (m - k + 1), and each adjusted value is at least the one before."""
    idx = [i for i, p in enumerate(pvalues) if p == p]
    out = [float("nan")] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (len(idx) - rank) * pvalues[i]))
        out[i] = running
    return out


def family_verdict(mean: float, p_adjusted: float) -> str:
    """A claim's verdict within its family: ``shown`` when its Holm-adjusted p is under 0.05 and the
    difference points the claimed way, ``contradicted`` when it points the other way, ``not shown``
    otherwise; no verdict from one seed."""
    if p_adjusted != p_adjusted:
        return ONE_SEED
    if p_adjusted < 0.05:
        return "shown" if mean > 0 else "contradicted"
    return "not shown"
