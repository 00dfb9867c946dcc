"""Intervals and tests behind `claims`, `regress` and `table --ci`.

Two tools, both seeded and vectorized with numpy:

- ``hierarchical_bootstrap``: a paired, two-level percentile bootstrap. The run seeds are the
  outer level (resampled with replacement), the test images of each drawn seed the inner level
  (resampled with replacement); two methods or iterations are paired by (seed, image id), so a
  resample keeps each image's two scores together. The statistic is the mean over seeds of each
  seed's mean (seeds weigh equally, as in the tables). A percentile interval of a mean lies inside
  the range of the values averaged, so an accuracy interval stays in [0, 1] and a perplexity
  interval above 0 by construction, unlike a t-interval over 2–3 seeds.
- ``paired_binary_test`` / ``paired_binary_bounds``: an exact one-sided test of
  H0: Δ ≤ Δ0 against H1: Δ > Δ0 for two paired binary outcomes (Δ = P(candidate right) −
  P(baseline right)), and the confidence bounds obtained by inverting it, so a decision and the
  interval printed beside it cannot disagree.

Why not McNemar: conditioning on the discordant pairs removes the nuisance parameter only when
Δ0 = 0; for a non-zero margin the conditional binomial is not exact. We use an exact
*unconditional* test instead (Berger & Boos 1994): the pairs split into lost (B), gained (C) and
unchanged, a trinomial with probabilities (p_b, p_c, 1 − p_b − p_c); outcomes are ordered by the
standardized difference T = (C − B − nΔ0) / sqrt(B + C + n|Δ0| + 1) (a Wald-type statistic whose
variance term keeps T increasing in C and decreasing in B, so for a given discordance the largest
tail probability over the null lies at Δ = Δ0, or at Δ = ψ where ψ < Δ0; the raw C − B is valid
too but loses much power because its spread grows with the discordance). The p-value is the
largest P(T ≥ t_obs) over those points,
with the nuisance ψ = p_b + p_c restricted to a 1 − γ Clopper–Pearson interval of the observed
discordance and γ added back (γ = 0.001). The maximum over ψ is found on a grid and refined by a
bounded 1-D search; each tail is computed exactly (K = B + C ~ Binomial(n, ψ),
C | K ~ Binomial(K, p_c/ψ), and for each K, T ≥ t_obs is C ≥ a threshold), the binomial terms
beyond 1e-15 of the K distribution dropped and their mass added to the p-value, so numerical cuts
only make it larger.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

BOOTSTRAP_N = 2000
BOOTSTRAP_SEED = 0
BERGER_BOOS_GAMMA = 1e-3
_GRID = 64
_TAIL_CUT = 1e-15


# -- the hierarchical paired bootstrap -------------------------------------------------------------
@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    level: float
    n_seeds: int
    n_samples: int  # pairs (or values) over all seeds

    def as_dict(self) -> dict[str, float | int]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "level": self.level,
                "n_seeds": self.n_seeds, "n_samples": self.n_samples}


def pair_by_id(a: Mapping[object, Mapping[str, float]], b: Mapping[object, Mapping[str, float]]) -> list[np.ndarray]:
    """Per seed common to both sides, the per-image differences b − a over the image ids both
    hold (missing values, None or NaN, leave the image out of that seed)."""
    groups = []
    for seed in sorted(set(a) & set(b), key=str):
        left, right = a[seed], b[seed]
        ids = sorted(i for i in set(left) & set(right) if _present(left[i]) and _present(right[i]))
        if ids:
            groups.append(np.array([float(right[i]) - float(left[i]) for i in ids]))
    return groups


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def hierarchical_bootstrap(groups: Sequence[Sequence[float] | np.ndarray], n_boot: int = BOOTSTRAP_N,
                           seed: int = BOOTSTRAP_SEED, level: float = 0.95) -> Interval | None:
    """Percentile interval of the mean over seeds of each seed's mean, resampling seeds and then
    the values within each drawn seed. ``groups``: one array per seed — paired differences
    (``pair_by_id``) for a comparison, or plain values for one method's interval. None when no
    seed holds a value."""
    arrays = [np.asarray(g, dtype=float) for g in groups]
    arrays = [g for g in arrays if g.size]
    if not arrays:
        return None
    if not 0 < level < 1:
        raise ValueError(f"level {level}: expected a number between 0 and 1")
    rng = np.random.default_rng(seed)
    n_seeds = len(arrays)
    estimate = float(np.mean([g.mean() for g in arrays]))
    drawn = rng.integers(0, n_seeds, size=(n_boot, n_seeds))  # outer level: which seed fills each slot
    totals = np.zeros(n_boot)
    for k, values in enumerate(arrays):
        hits = np.flatnonzero(drawn.ravel() == k)  # every (replicate, slot) that drew seed k
        if hits.size == 0:
            continue
        # inner level: resample seed k's values once per slot that drew it, in chunks (memory)
        means = np.empty(hits.size)
        chunk = max(1, 2_000_000 // values.size)
        for start in range(0, hits.size, chunk):
            count = min(chunk, hits.size - start)
            means[start:start + count] = values[rng.integers(0, values.size, size=(count, values.size))].mean(axis=1)
        np.add.at(totals, hits // n_seeds, means)
    replicates = totals / n_seeds
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(replicates, [tail, 1.0 - tail])
    return Interval(estimate, float(low), float(high), level, n_seeds, int(sum(g.size for g in arrays)))


# -- exact tests for paired binary outcomes --------------------------------------------------------
def statistic(lost: int, gained: int, n: int, delta0: float) -> float:
    """T, the ordering of outcomes (see the module doc)."""
    return (gained - lost - n * delta0) / math.sqrt(lost + gained + n * abs(delta0) + 1.0)


def _upper_tail(t_obs: float, n: int, delta0: float, psi: np.ndarray) -> np.ndarray:
    """P(T ≥ t_obs) for each discordance ψ when p_c − p_b = delta0 (exact sum over K = B + C)."""
    from scipy.stats import binom

    psi = np.atleast_1d(np.asarray(psi, dtype=float))
    out = np.empty(psi.size)
    shift = n * delta0
    for j, q in enumerate(psi):
        lo, hi, cut = 0, n, 0.0
        if n > 50 and 0 < q < 1:
            with warnings.catch_warnings():  # boost cannot always bracket extreme quantiles: then sum it all
                warnings.simplefilter("ignore", RuntimeWarning)
                bounds = binom.ppf(_TAIL_CUT, n, q), binom.isf(_TAIL_CUT, n, q)
            if all(np.isfinite(bounds)) and bounds[0] <= n * q <= bounds[1]:
                lo, hi, cut = int(bounds[0]), min(int(bounds[1]) + 1, n), 2 * _TAIL_CUT
        k = np.arange(max(lo, 0), hi + 1)
        weights = binom.pmf(k, n, q)
        pi = min(max((q + delta0) / (2.0 * q), 0.0), 1.0) if q > 0 else 0.5  # P(gained | discordant)
        # T ≥ t_obs ⟺ C ≥ (K + nΔ0 + t_obs·sqrt(K + n|Δ0| + 1)) / 2; the 1e-9 keeps the observed
        # outcome inside its own region despite rounding
        need = np.ceil((k + shift + t_obs * np.sqrt(k + abs(shift) + 1.0)) / 2.0 - 1e-9)
        tail = binom.sf(need - 1, k, pi)
        tail = np.where(need <= 0, 1.0, np.where(need > k, 0.0, tail))
        out[j] = float(np.dot(weights, tail)) + cut
    return out


def paired_binary_test(lost: int, gained: int, n: int, delta0: float,
                       gamma: float = BERGER_BOOS_GAMMA) -> float:
    """Exact unconditional one-sided p-value of H0: Δ ≤ delta0 vs H1: Δ > delta0, where Δ is the
    candidate's minus the baseline's rate of right answers over ``n`` pairs, ``lost`` of which
    only the baseline got right and ``gained`` only the candidate (see the module doc)."""
    from scipy.optimize import minimize_scalar
    from scipy.stats import beta

    _check_counts(lost, gained, n)
    if delta0 >= 1.0:
        return 1.0  # Δ ≤ 1 always holds
    if delta0 <= -1.0:
        return 1.0 if lost == n else 0.0  # Δ = −1: every pair lost
    t_obs = statistic(lost, gained, n, delta0)
    k = lost + gained
    # Berger–Boos: ψ within a 1 − γ Clopper–Pearson interval of the observed discordance k/n
    ci_low = 0.0 if k == 0 else float(beta.ppf(gamma / 2, k, n - k + 1))
    ci_high = 1.0 if k == n else float(beta.ppf(1 - gamma / 2, k + 1, n - k))
    # for a fixed ψ the tail grows with Δ, so its largest value over the null is at Δ = Δ0 — or,
    # when Δ0 > 0 and ψ < Δ0, at Δ = ψ (every discordant pair a gain: _upper_tail's clipped π)
    low, high = (max(-delta0, ci_low) if delta0 < 0 else ci_low), ci_high
    if low > high:
        return min(1.0, gamma)  # no null value of Δ is possible with ψ in its interval
    grid = np.linspace(low, high, _GRID)
    values = _upper_tail(t_obs, n, delta0, grid)
    best = int(np.argmax(values))
    sup = float(values[best])
    if _GRID > 1 and high > low:
        left, right = grid[max(best - 1, 0)], grid[min(best + 1, _GRID - 1)]
        found = minimize_scalar(lambda q: -_upper_tail(t_obs, n, delta0, np.array([q]))[0], bounds=(left, right),
                                method="bounded", options={"xatol": 1e-10})
        sup = max(sup, -float(found.fun))
    return min(1.0, sup + gamma)


def paired_binary_bounds(lost: int, gained: int, n: int, alpha: float = 0.05,
                         gamma: float = BERGER_BOOS_GAMMA, tol: float = 1e-6) -> tuple[float, float]:
    """The one-sided (1 − alpha) lower and upper confidence bounds of Δ obtained by inverting
    ``paired_binary_test``: H0: Δ ≤ Δ0 is rejected at ``alpha`` exactly when Δ0 < lower (up to
    ``tol``), and by symmetry (swap lost and gained) H0: Δ ≥ Δ0 exactly when Δ0 > upper.
    Together they form a (1 − 2·alpha) two-sided interval."""
    _check_counts(lost, gained, n)
    return (_lower_bound(lost, gained, n, alpha, gamma, tol), -_lower_bound(gained, lost, n, alpha, gamma, tol))


def _lower_bound(lost: int, gained: int, n: int, alpha: float, gamma: float, tol: float) -> float:
    # the p-value grows with Δ0: bisect for the largest Δ0 still rejected
    low, high = -1.0, (gained - lost) / n
    if paired_binary_test(lost, gained, n, high, gamma) <= alpha:  # never at the observed Δ: D ≥ d is likely
        return high
    while high - low > tol:
        mid = (low + high) / 2.0
        if paired_binary_test(lost, gained, n, mid, gamma) <= alpha:
            low = mid
        else:
            high = mid
    return low


def _check_counts(lost: int, gained: int, n: int) -> None:
    if n <= 0:
        raise ValueError("no pairs to test (n = 0)")
    if lost < 0 or gained < 0 or lost + gained > n:
        raise ValueError(f"lost {lost} and gained {gained} do not fit in {n} pairs")
