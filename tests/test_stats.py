"""vaelab.stats: summaries over seeds against a direct computation (statistics module), paired differences, and the
margins the book's assert cells use."""

import statistics

import pytest

import vaelab as vl


def test_summary_is_the_sample_mean_sd_and_standard_error():
    values = [1.0, 2.0, 4.5]
    s = vl.stats.summary(values)
    assert s.mean == pytest.approx(statistics.mean(values)) and s.sd == pytest.approx(statistics.stdev(values))
    assert s.se == pytest.approx(statistics.stdev(values) / 3**0.5) and s.n == 3 and s.values == (1.0, 2.0, 4.5)
    assert f"{s:.1f}" == "2.5 ± 1.8" and "3 seeds" in str(s)


def test_paired_differences_and_margins():
    a, b = [10.0, 11.0, 12.0], [9.0, 10.2, 11.1]  # a beats b by about 0.9 in every seed: clearly
    d = vl.stats.difference(a, b)
    assert d.values == pytest.approx((1.0, 0.8, 0.9)) and d.above(0) and not d.below(0)
    assert not d.above(0.9)  # ... but not clearly by more than 0.9
    noisy = vl.stats.difference([10.0, 8.0, 12.5], [9.0, 10.2, 11.1])  # the sign flips between seeds
    assert not noisy.above(0) and not noisy.below(0)
    assert vl.stats.summary([0.1, -0.1, 0.05]).within(1.0) and not vl.stats.summary([0.1, -0.1, 0.05]).within(0.1)


def test_bad_input():
    with pytest.raises(ValueError, match="at least 2 values"):
        vl.stats.summary([1.0])
    with pytest.raises(ValueError, match="one value per seed on both sides"):
        vl.stats.difference([1.0, 2.0], [1.0])
