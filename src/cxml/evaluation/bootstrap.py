"""Percentile bootstrap intervals: the one resampling convention behind every interval cxml reports.

A statistic is a function of resampled row indices. Resamples draw ``n`` rows with replacement,
``rng.integers(0, n, n)`` per resample from ``numpy.random.default_rng(seed)``. With ``strata`` rows are drawn
within each stratum instead (so every stratum keeps its size), one stratum after another in sorted order of the
stratum labels, and the indices are sorted so rows keep their original order (ties at a top-k cut-off are not
broken by stratum). A statistic returns NaN for a resample it cannot score (e.g. one class only); the interval
is taken over the finite draws and is (NaN, NaN) when there are none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

from cxml import progress

Statistic = Callable[[np.ndarray], float]
"""Resampled row indices → one number (NaN to leave the resample out)."""


def resamples(
    n: int, *, n_boot: int = 200, seed: int = 0, strata: Sequence | np.ndarray | None = None
) -> Iterator[np.ndarray]:
    """``n_boot`` arrays of row indices into ``n`` rows, each drawn with replacement (within each stratum)."""
    rng = np.random.default_rng(seed)
    if strata is None:
        for _ in range(n_boot):
            yield rng.integers(0, n, n)
        return
    labels = np.asarray(strata)
    if labels.shape != (n,):
        raise ValueError(f"strata must have one label per row ({n}), got shape {labels.shape}")
    groups = [np.flatnonzero(labels == label) for label in np.unique(labels)]
    for _ in range(n_boot):
        yield np.sort(np.concatenate([g[rng.integers(0, g.size, g.size)] for g in groups]))


def percentile_interval(draws: Sequence[float] | np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` interval of the finite ``draws`` (linear interpolation), or (NaN, NaN)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    values = np.asarray(draws, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(values, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def bootstrap_interval(
    n: int,
    statistic: Statistic,
    *,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
    strata: Sequence | np.ndarray | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap interval (low, high) of ``statistic`` over ``n`` rows."""
    draws = resamples(n, n_boot=n_boot, seed=seed, strata=strata)
    return percentile_interval([statistic(idx) for idx in progress.bar(draws, "bootstrap", n_boot)], level)


def bootstrap_intervals(
    n: int,
    statistics: Callable[[np.ndarray], Mapping[str, float]],
    *,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
    strata: Sequence | np.ndarray | None = None,
) -> dict[str, tuple[float, float]]:
    """Several statistics from one set of resamples: name → (low, high). A name missing from every resample's
    result (e.g. all were left out by returning ``{}``) is missing from the answer."""
    draws: dict[str, list[float]] = {}
    for idx in progress.bar(resamples(n, n_boot=n_boot, seed=seed, strata=strata), "bootstrap", n_boot):
        for name, value in statistics(idx).items():
            draws.setdefault(name, []).append(value)
    return {name: percentile_interval(values, level) for name, values in draws.items()}
