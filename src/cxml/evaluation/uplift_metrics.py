"""Uplift (treatment-effect ranking) metrics: arrays in, numbers out. Each docstring states the definition used.

Inputs everywhere: ``y`` is the outcome (0/1 or a continuous amount such as spend), ``uplift`` the predicted
effect score (higher = treat first) and ``treatment`` a 0/1 array (1 = received the arm under evaluation,
0 = control). Rows of other arms must be filtered out by the caller.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from cxml.evaluation.bootstrap import bootstrap_interval


def _validate(y: np.ndarray, uplift: np.ndarray, treatment: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``y``, ``uplift`` as 1-D float arrays and ``treatment`` as a 1-D 0/1 int array, or raise ValueError."""
    y_arr = np.asarray(y, dtype=float)
    s_arr = np.asarray(uplift, dtype=float)
    t_raw = np.asarray(treatment)
    for name, arr in (("y", y_arr), ("uplift", s_arr), ("treatment", t_raw)):
        if arr.ndim != 1:
            raise ValueError(f"{name} must be 1-dimensional, got shape {arr.shape}")
    if not y_arr.size == s_arr.size == t_raw.size:
        raise ValueError(
            f"length mismatch: y has {y_arr.size} rows, uplift {s_arr.size}, treatment {t_raw.size}; all must be equal"
        )
    if y_arr.size == 0:
        raise ValueError("inputs are empty")
    if not np.all(np.isfinite(y_arr)):
        raise ValueError("y contains NaN or infinite values")
    if not np.all(np.isfinite(s_arr)):
        raise ValueError("uplift contains NaN or infinite values")
    try:
        t_float = t_raw.astype(float)
    except (TypeError, ValueError) as exc:
        raise ValueError("treatment must contain only 0 (control) and 1 (treated)") from exc
    bad = ~np.isin(t_float, (0.0, 1.0))
    if bad.any():
        found = np.unique(t_raw[bad])[:5].tolist()
        raise ValueError(f"treatment must contain only 0 (control) and 1 (treated), found {found}")
    t_arr = t_float.astype(np.int64)
    n_treated = int(t_arr.sum())
    if n_treated == 0:
        raise ValueError("treatment has no treated rows (treatment == 1); both groups are required")
    if n_treated == t_arr.size:
        raise ValueError("treatment has no control rows (treatment == 0); both groups are required")
    return y_arr, s_arr, t_arr


def _cumulative(
    y: np.ndarray, uplift: np.ndarray, treatment: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative k, N_t, N_c, Y_t, Y_c over the rows sorted by descending uplift, at tie boundaries only.

    Entries are taken at the last row of each run of equal scores, so tied rows enter the curve together and the
    order within a tie does not matter (hence the faster, unstable sort).
    """
    order = np.argsort(-uplift)
    s = uplift[order]
    t = treatment[order].astype(float)
    yo = y[order]
    n_t = np.cumsum(t)
    n_c = np.cumsum(1.0 - t)
    y_t = np.cumsum(yo * t)
    y_c = np.cumsum(yo * (1.0 - t))
    ends = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    k = (ends + 1).astype(float)
    return k, n_t[ends], n_c[ends], y_t[ends], y_c[ends]


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Element-wise num / den, with 0 where den == 0."""
    return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 0)


def _trapezoid(x: np.ndarray, y: np.ndarray) -> float:
    """Trapezoidal-rule area under the polyline (x, y)."""
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


def _qini_curve(y: np.ndarray, uplift: np.ndarray, treatment: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k, n_t, n_c, y_t, y_c = _cumulative(y, uplift, treatment)
    n = float(y.size)
    q = (y_t - _safe_div(y_c * n_t, n_c)) / n
    return np.r_[0.0, k / n], np.r_[0.0, q]


def _uplift_curve(y: np.ndarray, uplift: np.ndarray, treatment: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k, n_t, n_c, y_t, y_c = _cumulative(y, uplift, treatment)
    n = float(y.size)
    both = (n_t > 0) & (n_c > 0)
    u = np.where(both, (_safe_div(y_t, n_t) - _safe_div(y_c, n_c)) * k / n, 0.0)
    return np.r_[0.0, k / n], np.r_[0.0, u]


def _qini_coefficient(y: np.ndarray, uplift: np.ndarray, treatment: np.ndarray) -> float:
    x, q = _qini_curve(y, uplift, treatment)
    return _trapezoid(x, q) - 0.5 * float(q[-1])


def _qini_normalised(y: np.ndarray, uplift: np.ndarray, treatment: np.ndarray) -> float:
    perfect = _qini_coefficient(y, y * (2.0 * treatment - 1.0), treatment)
    return _qini_coefficient(y, uplift, treatment) / perfect if perfect > 0 else float("nan")


def _auuc(y: np.ndarray, uplift: np.ndarray, treatment: np.ndarray) -> float:
    x, u = _uplift_curve(y, uplift, treatment)
    return _trapezoid(x, u)


def _uplift_at_k(y: np.ndarray, uplift: np.ndarray, treatment: np.ndarray, k: float) -> float:
    if not 0.0 < k <= 1.0:
        raise ValueError(f"k must be a fraction in (0, 1], got {k}")
    m = max(1, int(np.ceil(k * y.size)))
    top = np.argsort(-uplift, kind="stable")[:m]
    yt, tt = y[top], treatment[top]
    if tt.all() or not tt.any():
        return float("nan")
    return float(yt[tt == 1].mean() - yt[tt == 0].mean())


_METRICS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], float]] = {
    "qini": _qini_coefficient,
    "qini_norm": _qini_normalised,
    "auuc": _auuc,
    "uplift_at_10": lambda y, s, t: _uplift_at_k(y, s, t, 0.1),
    "uplift_at_30": lambda y, s, t: _uplift_at_k(y, s, t, 0.3),
}


def qini_curve(y: np.ndarray, uplift: np.ndarray, treatment: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Qini curve (Radcliffe): x = fraction of the population targeted, q = Q(k) / N.

    Rows are ranked by descending uplift (stable sort). For the top k rows,
    Q(k) = Y_t(k) − Y_c(k) · N_t(k) / N_c(k), where Y_t, Y_c are the summed outcomes and N_t, N_c the counts of
    treated and control rows among them (the control term is 0 where N_c(k) = 0). Dividing by the total number
    of rows N gives "incremental outcomes per customer of the population". The curve starts at (0, 0) and is
    evaluated only at the boundaries between distinct scores, so tied rows enter together (a constant score
    gives the straight line to the overall incremental value).
    """
    return _qini_curve(*_validate(y, uplift, treatment))


def uplift_curve(y: np.ndarray, uplift: np.ndarray, treatment: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative uplift (gain) curve: x = fraction targeted, U(k) = (Y_t(k)/N_t(k) − Y_c(k)/N_c(k)) · k / N.

    Same ranking, tie handling and starting point (0, 0) as ``qini_curve``; U(k) is 0 while the top k rows lack
    treated or control rows.
    """
    return _uplift_curve(*_validate(y, uplift, treatment))


def qini_coefficient(y: np.ndarray, uplift: np.ndarray, treatment: np.ndarray) -> float:
    """Qini coefficient: area between the Qini curve and the random-targeting line, by the trapezoidal rule over x.

    The random-targeting line runs from (0, 0) to (1, Q(N) / N). A value > 0 means the ranking beats random
    targeting, 0 means no better than random (a constant score gives exactly 0), < 0 means worse than random;
    a perfect ranking of the true effects maximises it.
    """
    return _qini_coefficient(*_validate(y, uplift, treatment))


def qini_normalised(y: np.ndarray, uplift: np.ndarray, treatment: np.ndarray) -> float:
    """Normalised Qini coefficient: the Qini coefficient divided by that of the perfect ranking (1 = perfect).

    The perfect ranking puts every treated responder first and every control responder last (score
    ``y · (2t − 1)``), the usual normalisation of published Qini figures (e.g. scikit-uplift's ``qini_auc_score``).
    NaN when the perfect ranking has no positive area.
    """
    return _qini_normalised(*_validate(y, uplift, treatment))


def auuc(y: np.ndarray, uplift: np.ndarray, treatment: np.ndarray) -> float:
    """AUUC: area under the cumulative uplift curve of ``uplift_curve``, by the trapezoidal rule over x in [0, 1].

    Not baseline-subtracted: random targeting gives about half the overall uplift (mean_t − mean_c) / 2.
    """
    return _auuc(*_validate(y, uplift, treatment))


def uplift_at_k(y: np.ndarray, uplift: np.ndarray, treatment: np.ndarray, k: float = 0.3) -> float:
    """Uplift@k: among the top ceil(k · N) rows by uplift (stable sort), mean outcome of treated minus control.

    NaN if the top group has no treated or no control rows.
    """
    return _uplift_at_k(*_validate(y, uplift, treatment), k)


def uplift_by_decile(y: np.ndarray, uplift: np.ndarray, treatment: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Observed vs predicted uplift per rank bin: rows sorted by descending uplift (stable) and cut into
    ``n_bins`` equal-sized bins (sizes differ by at most one; bin 1 = highest predicted uplift).

    Per bin: n_treated, n_control, rate_treated / rate_control (mean outcome of each group, NaN if empty),
    observed_uplift = rate_treated − rate_control, and mean_predicted_uplift (mean score).
    """
    y_arr, s_arr, t_arr = _validate(y, uplift, treatment)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    n = y_arr.size
    order = np.argsort(-s_arr, kind="stable")
    sizes = np.full(n_bins, n // n_bins)
    sizes[: n % n_bins] += 1
    bins = np.empty(n, dtype=np.int64)
    bins[order] = np.repeat(np.arange(n_bins), sizes)
    tf = t_arr.astype(float)
    n_t = np.bincount(bins, weights=tf, minlength=n_bins)
    n_c = np.bincount(bins, weights=1.0 - tf, minlength=n_bins)
    sum_t = np.bincount(bins, weights=y_arr * tf, minlength=n_bins)
    sum_c = np.bincount(bins, weights=y_arr * (1.0 - tf), minlength=n_bins)
    sum_s = np.bincount(bins, weights=s_arr, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate_t = np.where(n_t > 0, sum_t / n_t, np.nan)
        rate_c = np.where(n_c > 0, sum_c / n_c, np.nan)
        mean_s = np.where(sizes > 0, sum_s / sizes, np.nan)
    return pd.DataFrame(
        {
            "bin": np.arange(1, n_bins + 1),
            "n_treated": n_t.astype(np.int64),
            "n_control": n_c.astype(np.int64),
            "rate_treated": rate_t,
            "rate_control": rate_c,
            "observed_uplift": rate_t - rate_c,
            "mean_predicted_uplift": mean_s,
        }
    )


def uplift_metrics(y: np.ndarray, uplift: np.ndarray, treatment: np.ndarray) -> dict[str, float]:
    """Qini coefficient (primary), normalised Qini, AUUC, and uplift@10 % / @30 % (treated minus control mean)."""
    y_arr, s_arr, t_arr = _validate(y, uplift, treatment)
    # sort once (stable, as uplift_at_k needs); the per-metric sorts of already sorted data are then cheap
    order = np.argsort(-s_arr, kind="stable")
    arrays = (y_arr[order], s_arr[order], t_arr[order])
    return {name: fn(*arrays) for name, fn in _METRICS.items()}


def uplift_bootstrap_ci(
    y: np.ndarray,
    uplift: np.ndarray,
    treatment: np.ndarray,
    metric: str = "qini",
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    stratify: bool = True,
) -> tuple[float, float]:
    """Percentile bootstrap interval of one ``uplift_metrics`` entry.

    With ``stratify`` rows are resampled with replacement within the treated and within the control group
    separately, so both group sizes stay fixed; otherwise all rows are resampled together (resamples missing a
    group are skipped). NaN metric values (e.g. an empty group in the top k) are ignored.
    """
    if metric not in _METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {sorted(_METRICS)}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    y_arr, s_arr, t_arr = _validate(y, uplift, treatment)
    fn = _METRICS[metric]

    def statistic(idx: np.ndarray) -> float:
        if not stratify and int(t_arr[idx].sum()) in (0, idx.size):  # a resample missing a group
            return float("nan")
        return fn(y_arr[idx], s_arr[idx], t_arr[idx])

    # strata labelled 0 = treated, 1 = control: the treated rows are drawn first, as they always were
    strata = (t_arr != 1).astype(np.int8) if stratify else None
    return bootstrap_interval(y_arr.size, statistic, n_boot=n_boot, level=level, seed=seed, strata=strata)
