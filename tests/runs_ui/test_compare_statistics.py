"""The comparison test's p-values checked against scipy on generated paired samples.

Exact cases (n <= 16) must equal a plain enumeration of all sign vectors and
``scipy.stats.permutation_test(permutation_type="samples")`` with every permutation (up to
scipy's float tie tolerance); Monte Carlo cases must agree with the exact sign-flip p-value
(enumerated over the non-zero differences) within Monte Carlo error; the normal approximation
for large runs must agree with the paired t-test. Every case also checks that the 95% interval
excludes 0 exactly when p <= 0.05.
"""

from __future__ import annotations

import math
from itertools import product

import numpy as np
import pytest
from scipy import stats

from runs.compare import ALPHA, PERMUTATIONS, paired_difference


def _mean_difference(x, y, axis):
    return np.mean(y - x, axis=axis)


def scipy_exact_p(baseline, other) -> float:
    result = stats.permutation_test(
        (baseline, other),
        _mean_difference,
        permutation_type="samples",
        vectorized=True,
        n_resamples=np.inf,
        alternative="two-sided",
    )
    return float(result.pvalue)


def enumerated_p(diffs) -> float:
    nonzero = diffs[diffs != 0]
    if len(nonzero) == 0:
        return 1.0
    signs = np.array(list(product((1.0, -1.0), repeat=len(nonzero))))
    observed = abs(nonzero.sum())
    return float(np.mean(np.abs(signs @ nonzero) >= observed - 1e-9 * np.abs(nonzero).sum()))


def _generate(rng, n):
    """A varied paired sample: binary metrics, bounded scores with ties, zeros, constant
    shifts, heavy tails, all-equal."""
    kind = rng.integers(0, 7)
    if kind == 0:  # 0/1 metric, some rows flip
        base = rng.integers(0, 2, n).astype(float)
        other = np.where(rng.random(n) < 0.3, 1 - base, base)
    elif kind == 1:  # scores on a 1-5 scale (many ties)
        base = rng.integers(1, 6, n).astype(float)
        other = np.clip(base + rng.integers(-1, 3, n), 1, 5).astype(float)
    elif kind == 2:  # continuous with a real shift
        base = rng.random(n)
        other = base + 0.1 + rng.normal(0, 0.1, n)
    elif kind == 3:  # continuous, no shift
        base = rng.random(n)
        other = base + rng.normal(0, 0.2, n)
    elif kind == 4:  # mostly unchanged rows
        base = rng.random(n)
        other = base.copy()
        changed = rng.random(n) < 0.2
        other[changed] = rng.random(int(changed.sum()))
    elif kind == 5:  # heavy-tailed latency-like
        base = rng.lognormal(6, 1, n)
        other = base * rng.lognormal(0.05, 0.5, n)
    else:  # every row the same difference
        base = rng.random(n)
        other = base + rng.choice([0.0, 0.25, -0.5])
    return base, other


def _check_interval(delta):
    if delta.ci_low is None:
        # no interval only when no shift at all can be rejected (too few rows)
        assert delta.n <= 6
        assert delta.p_value > ALPHA
        return
    excludes_zero = delta.ci_low > 0 or delta.ci_high < 0
    assert excludes_zero == (delta.p_value <= ALPHA), (delta.ci_low, delta.ci_high, delta.p_value)
    assert delta.ci_low <= delta.delta + 1e-9 and delta.delta - 1e-9 <= delta.ci_high


EXACT_CASES = [(seed, n) for seed in range(12) for n in (2, 3, 5, 6, 8, 10, 13, 16)]


@pytest.mark.parametrize(("seed", "n"), EXACT_CASES)
def test_exact_p_values_equal_scipy(seed, n):
    rng = np.random.default_rng(1000 + seed * 31 + n)
    base, other = _generate(rng, n)
    delta = paired_difference(base, other)
    assert delta.method == "exact"
    assert delta.p_value == pytest.approx(enumerated_p(other - base), abs=1e-12)
    # scipy treats statistics within 100 ulp of the observed one as ties; with float data the
    # recomputed observed assignment itself can fall outside that, so allow one +- pair.
    assert delta.p_value == pytest.approx(scipy_exact_p(base, other), abs=2 / 2**n + 1e-12)
    _check_interval(delta)


MONTE_CARLO_CASES = [(seed, n) for seed in range(10) for n in (17, 25, 40, 80, 300)]


@pytest.mark.parametrize(("seed", "n"), MONTE_CARLO_CASES)
def test_monte_carlo_p_values_agree_with_the_exact_test(seed, n):
    rng = np.random.default_rng(5000 + seed * 17 + n)
    base, other = _generate(rng, n)
    diffs = other - base
    # Keep the enumeration small: at most 18 non-zero differences.
    nonzero = np.flatnonzero(diffs)
    if len(nonzero) > 18:
        keep = rng.choice(nonzero, 18, replace=False)
        other = base.copy()
        other[keep] = base[keep] + diffs[keep]
    delta = paired_difference(base, other)
    assert delta.method == "monte_carlo"
    exact = enumerated_p(other - base)
    error = 4 * math.sqrt(max(exact * (1 - exact), 1e-4) / PERMUTATIONS) + 1 / (PERMUTATIONS + 1)
    assert abs(delta.p_value - exact) <= error, (delta.p_value, exact)
    assert delta.p_value >= 1 / (PERMUTATIONS + 1)
    assert delta == paired_difference(base, other)  # seeded: the same answer every time
    _check_interval(delta)


@pytest.mark.parametrize("seed", range(6))
def test_monte_carlo_agrees_with_scipy_on_dense_differences(seed):
    rng = np.random.default_rng(9000 + seed)
    base, other = _generate(rng, 60)
    delta = paired_difference(base, other)
    reference = stats.permutation_test(
        (base, other),
        _mean_difference,
        permutation_type="samples",
        vectorized=True,
        n_resamples=PERMUTATIONS,
        rng=np.random.default_rng(seed),
    ).pvalue
    spread = 4 * math.sqrt(max(reference * (1 - reference), 1e-4) * 2 / PERMUTATIONS)
    assert abs(delta.p_value - reference) <= spread + 2 / (PERMUTATIONS + 1)
    _check_interval(delta)


@pytest.mark.parametrize("shift", [0.0, 0.002, 0.01])
def test_large_continuous_runs_use_the_normal_approximation(shift):
    rng = np.random.default_rng(42)
    base = rng.random(30_000)
    other = base + shift + rng.normal(0, 0.2, 30_000)
    delta = paired_difference(base, other)
    assert delta.method == "normal_approximation"
    reference = stats.ttest_rel(other, base).pvalue
    assert delta.p_value == pytest.approx(reference, abs=0.01)
    low, high = stats.ttest_rel(other, base).confidence_interval(0.95)
    assert delta.ci_low == pytest.approx(low, abs=1e-4)
    assert delta.ci_high == pytest.approx(high, abs=1e-4)
    _check_interval(delta)


def test_large_binary_runs_stay_exact_in_distribution():
    """100,000 rows of a 0/1 metric: grouped flips, not the normal approximation, so a
    handful of changed rows is judged by the handful."""
    base = np.ones(100_000)
    other = base.copy()
    other[:5] = 0.0  # five rows got worse, the rest equal
    delta = paired_difference(base, other)
    assert delta.method == "monte_carlo"
    assert delta.p_value == pytest.approx(2 / 32, abs=0.01)  # exact would be 0.0625
    assert not delta.significant


def test_zero_and_constant_differences():
    same = paired_difference(np.ones(30), np.ones(30))
    assert same.p_value == 1.0 and same.delta == 0 and same.effect_size is None
    assert not same.significant
    shifted = paired_difference(np.zeros(30), np.full(30, 0.5))
    assert shifted.p_value == pytest.approx(1 / (PERMUTATIONS + 1), abs=1e-12)
    assert shifted.significant and shifted.ci_low == pytest.approx(0.5)
    assert shifted.ci_high == pytest.approx(0.5)
    one = paired_difference(np.zeros(1), np.ones(1))
    assert one.p_value is None and not one.significant
