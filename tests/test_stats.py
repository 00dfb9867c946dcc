"""reports/stats.py against independent implementations: the exact paired test against a brute-force
enumeration of the trinomial, its size computed outcome by outcome, the bounds against the test they
invert, and the hierarchical bootstrap against a plain loop and scipy's bootstrap."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import beta, bootstrap

from selfsynth.reports.stats import (
    hierarchical_bootstrap,
    pair_by_id,
    paired_binary_bounds,
    paired_binary_test,
)


def trinomial(n: int, p_lost: float, p_gained: float) -> dict[tuple[int, int], float]:
    """P(B = b, C = c) for every outcome, from the multinomial formula."""
    out = {}
    for b in range(n + 1):
        for c in range(n + 1 - b):
            coef = math.factorial(n) // (math.factorial(b) * math.factorial(c) * math.factorial(n - b - c))
            out[(b, c)] = coef * p_lost ** b * p_gained ** c * (1 - p_lost - p_gained) ** (n - b - c)
    return out


def t_stat(b: int, c: int, n: int, delta0: float) -> float:
    """The ordering statistic as the module doc defines it, written out here."""
    return (c - b - n * delta0) / math.sqrt(b + c + n * abs(delta0) + 1)


def brute_p_value(lost: int, gained: int, n: int, delta0: float, gamma: float = 1e-3, grid: int = 600) -> float:
    """Berger–Boos p-value by enumerating every outcome at each nuisance value of a fine grid."""
    k, t_obs = lost + gained, t_stat(lost, gained, n, delta0)
    low = 0.0 if k == 0 else beta.ppf(gamma / 2, k, n - k + 1)
    high = 1.0 if k == n else beta.ppf(1 - gamma / 2, k + 1, n - k)
    best = 0.0
    # the null's largest tail for each discordance ψ: at Δ = Δ0, or at Δ = ψ (all gains) when ψ < Δ0
    for psi in np.linspace(max(low, -delta0) if delta0 < 0 else low, high, grid):
        gained_p = min((psi + delta0) / 2, psi)
        probs = trinomial(n, psi - gained_p, gained_p)
        best = max(best, sum(p for (b, c), p in probs.items() if t_stat(b, c, n, delta0) >= t_obs - 1e-12))
    return min(1.0, best + gamma)


@pytest.mark.parametrize("lost, gained, n, delta0", [
    (4, 0, 24, -0.1), (1, 3, 20, -0.05), (0, 5, 12, 0.0), (2, 2, 10, -0.2), (0, 0, 15, -0.1),
    (0, 9, 9, 0.5), (5, 1, 14, -0.25), (3, 3, 18, 0.0),
    (0, 0, 15, 0.1), (0, 2, 20, 0.2), (1, 6, 16, 0.15),  # Δ0 > 0: the null holds Δ = ψ < Δ0 too
])
def test_p_value_matches_brute_force_enumeration(lost, gained, n, delta0):
    ours = paired_binary_test(lost, gained, n, delta0)
    # the brute force takes the maximum on a finite grid: ours (grid + refinement) is never below it
    reference = brute_p_value(lost, gained, n, delta0)
    assert reference - 1e-12 <= ours <= reference + 2e-3


@pytest.mark.parametrize("n, delta0, alpha", [(12, -0.1, 0.05), (15, 0.0, 0.05), (10, -0.2, 0.1), (12, 0.15, 0.05)])
def test_the_test_is_exact_its_size_never_exceeds_alpha(n, delta0, alpha):
    rejected = [(b, c) for b in range(n + 1) for c in range(n + 1 - b) if paired_binary_test(b, c, n, delta0) <= alpha]
    assert rejected  # the test has power somewhere, so the size check is not vacuous
    sizes = []
    # every point of the null on a grid, interior included: Δ ≤ Δ0 with p_lost, p_gained ≥ 0
    for p_lost in np.linspace(0.0, 1.0, 31):
        for p_gained in np.linspace(0.0, 1.0 - p_lost, 31):
            if p_gained - p_lost <= delta0 + 1e-12:
                probs = trinomial(n, p_lost, p_gained)
                sizes.append(sum(probs[o] for o in rejected))
    assert max(sizes) <= alpha + 1e-12


def test_mcnemar_is_the_special_case_at_zero_within_gamma():
    # at Δ0 = 0 and every pair discordant the unconditional test is the one-sided sign test + γ
    from scipy.stats import binomtest

    assert paired_binary_test(1, 7, 8, 0.0) == pytest.approx(binomtest(7, 8, 0.5, alternative="greater").pvalue + 1e-3, abs=1e-9)


def test_bounds_invert_the_test():
    lost, gained, n, alpha = 3, 9, 40, 0.05
    low, high = paired_binary_bounds(lost, gained, n, alpha)
    assert -1 < low < (gained - lost) / n < high < 1
    for delta0 in np.linspace(-0.5, 0.5, 21):
        assert (paired_binary_test(lost, gained, n, float(delta0)) <= alpha) == (delta0 < low - 1e-6) or abs(delta0 - low) < 1e-5
        # the mirror: H0: Δ ≥ Δ0 is H0: −Δ ≤ −Δ0 with lost and gained swapped
        assert (paired_binary_test(gained, lost, n, float(-delta0)) <= alpha) == (delta0 > high + 1e-6) or abs(delta0 - high) < 1e-5


def test_counts_are_checked():
    with pytest.raises(ValueError, match="n = 0"):
        paired_binary_test(0, 0, 0, 0.0)
    with pytest.raises(ValueError, match="do not fit"):
        paired_binary_bounds(5, 6, 10)


def loop_bootstrap(groups, n_boot, rng):
    """Two-level resampling written as loops: a seed per slot, then that seed's values."""
    out = np.empty(n_boot)
    for r in range(n_boot):
        picks = [groups[rng.integers(len(groups))] for _ in groups]
        out[r] = np.mean([g[rng.integers(0, g.size, g.size)].mean() for g in picks])
    return out


def test_hierarchical_bootstrap_matches_a_loop():
    rng = np.random.default_rng(5)
    groups = [(rng.random(40) < p).astype(float) for p in (0.3, 0.5, 0.7)]
    ours = hierarchical_bootstrap(groups, n_boot=20000, seed=1)
    replicates = loop_bootstrap(groups, 4000, np.random.default_rng(2))
    low, high = np.quantile(replicates, [0.025, 0.975])
    assert ours.estimate == pytest.approx(np.mean([g.mean() for g in groups]))
    assert (ours.low, ours.high) == pytest.approx((low, high), abs=0.03)
    # seed variation widens the interval beyond resampling images alone
    pooled = hierarchical_bootstrap([np.concatenate(groups)], n_boot=20000, seed=1)
    assert ours.high - ours.low > 1.5 * (pooled.high - pooled.low)
    assert ours.n_seeds == 3 and ours.n_samples == 120


def test_one_seed_is_scipys_percentile_bootstrap_and_is_seeded():
    values = np.random.default_rng(9).random(60)
    ours = hierarchical_bootstrap([values], n_boot=20000, seed=3)
    theirs = bootstrap((values,), np.mean, n_resamples=20000, method="percentile", rng=np.random.default_rng(4)).confidence_interval
    assert (ours.low, ours.high) == pytest.approx((theirs.low, theirs.high), abs=0.01)
    assert hierarchical_bootstrap([values], seed=3) == hierarchical_bootstrap([values], seed=3)
    assert hierarchical_bootstrap([values], seed=3) != hierarchical_bootstrap([values], seed=4)


def test_intervals_stay_in_the_metrics_range():
    # accuracy near 1 over 2 seeds: a t-interval leaves [0, 1], the percentile interval cannot
    near_one = [np.array([1.0] * 9 + [0.0]), np.array([1.0] * 10)]
    interval = hierarchical_bootstrap(near_one)
    assert 0.0 <= interval.low <= interval.high <= 1.0
    perplexity = [np.array([3.0, 90.0, 5.0]), np.array([2.5, 4.0])]
    interval = hierarchical_bootstrap(perplexity)
    assert interval.low >= 2.5 and interval.high <= 90.0
    assert hierarchical_bootstrap([np.zeros(5), np.zeros(7)]).as_dict() == {
        "estimate": 0.0, "low": 0.0, "high": 0.0, "level": 0.95, "n_seeds": 2, "n_samples": 12}
    assert hierarchical_bootstrap([[], []]) is None


def test_pairs_are_joined_by_seed_and_image_id():
    a = {0: {"x": 1.0, "y": 0.0, "z": 1.0}, 1: {"x": 0.0}, 2: {"x": 1.0}}
    b = {0: {"y": 1.0, "x": 1.0, "w": 0.0, "z": None}, 1: {"x": 1.0}}
    groups = pair_by_id(a, b)
    assert [g.tolist() for g in groups] == [[0.0, 1.0], [1.0]]  # ids x, y of seed 0; x of seed 1
