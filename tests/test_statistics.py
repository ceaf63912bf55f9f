"""The statistics every comparison of the study is read with (ssfer_study.stages.statistics)."""
import math

import pytest
from scipy import stats

from ssfer_study.stages import statistics


def test_paired_pairs_on_the_seed_and_gives_the_t_interval_and_p():
    a = {0: 80.0, 1: 78.0, 2: 82.0, 7: 99.0}
    b = {2: 79.0, 0: 77.0, 1: 76.0}
    c = statistics.paired(a, b)
    assert c.seeds == (0, 1, 2) and c.diffs == (3.0, 2.0, 3.0)
    assert c.mean == pytest.approx(8 / 3)
    assert c.ci95 == pytest.approx(stats.t.ppf(0.975, 2) * c.sd / math.sqrt(3))
    assert c.p == pytest.approx(stats.ttest_rel([80, 78, 82], [77, 76, 79]).pvalue)
    assert c.win == 1.0 and c.verdict() == "shown"


def test_the_probability_of_winning_counts_ties_half_and_has_a_bootstrap_interval():
    c = statistics.paired({s: v for s, v in enumerate((1.0, 2.0, 3.0, 4.0, 5.0, 6.0))},
                          {s: v for s, v in enumerate((0.0, 3.0, 3.0, 3.0, 6.0, 0.0))})
    assert c.win == pytest.approx((1 + 0 + 0.5 + 1 + 0 + 1) / 6)
    low, high = c.win_ci
    assert 0 <= low < c.win < high <= 1
    assert math.isnan(statistics.paired({0: 1.0}, {0: 0.0}).win_ci[0])  # one pair: no interval


def test_seeds_for_a_two_point_interval():
    # sd 2: n = 7 gives t(0.975, 6) * 2 / sqrt(7) = 1.85 <= 2, n = 6 gives 2.10 > 2
    assert statistics.seeds_for(2.0) == 7
    assert statistics.seeds_for(0.1) == 2
    assert statistics.seeds_for(20.0) is None and statistics.seeds_for(math.nan) is None
    n = statistics.seeds_for(5.0, cap=40)
    assert stats.t.ppf(0.975, n - 1) * 5 / math.sqrt(n) <= 2 < stats.t.ppf(0.975, n - 2) * 5 / math.sqrt(n - 1)


def test_holm_steps_down_and_keeps_the_order():
    adjusted = statistics.holm([0.01, 0.04, math.nan, 0.03])
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1 -> 0.03, 0.06, 0.06 (monotone: 0.04 -> max(0.06, 0.04))
    assert adjusted[0] == pytest.approx(0.03) and adjusted[3] == pytest.approx(0.06) and adjusted[1] == pytest.approx(0.06)
    assert math.isnan(adjusted[2])
    assert statistics.family_verdict(1.0, 0.03) == "shown" and statistics.family_verdict(-1.0, 0.03) == "contradicted"
    assert statistics.family_verdict(1.0, 0.06) == "not shown"
    assert statistics.family_verdict(1.0, math.nan) == statistics.ONE_SEED
