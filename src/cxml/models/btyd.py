"""Buy-till-you-die models of repeat purchasing, fitted by maximum likelihood from the published likelihoods.

Time is in the unit of the RFM summary (days by default; ``rfm_summary(..., freq_multiplier=7)`` gives weeks).

- ``BetaGeoNBD`` — BG/NBD (Fader, Hardie & Lee 2005). A customer can only drop out right after a *repeat*
  purchase, so its P(alive) is exactly 1 for every customer without one, however long ago they bought: that is
  the model's definition, not an estimate. Read P(alive) from ``ParetoNBD`` or ``ModifiedBetaGeoNBD`` instead.
- ``ModifiedBetaGeoNBD`` — MBG/NBD (Batislam, Denizel & Filiztekin 2007): dropout may also follow the first
  purchase, so non-repeaters get P(alive) < 1, falling with their age ``T``.
- ``ParetoNBD`` — Schmittlein, Morrison & Colombo (1987), with the likelihood of Fader & Hardie's 2005 note;
  the Gauss hypergeometric terms go through Euler's transformation and log space, for alpha >= beta and < beta.
- ``GammaGamma`` — average spend per transaction (Fader, Hardie & Lee 2005, "RFM and CLV"), and CLV with
  discounting on top of any of the transaction models.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, gammaln, hyp2f1
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from cxml.features.rfm import RFM_COLUMNS


def _rows(mask: np.ndarray, index: pd.Index, k: int = 5) -> list[Any]:
    return list(index[np.asarray(mask)][:k])


def _rfm_arrays(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    missing = [c for c in RFM_COLUMNS if c not in X.columns]
    if missing:
        raise ValueError(f"RFM frame lacks columns {missing} (see rfm_summary); it has {list(X.columns)[:20]}")
    x, tx, T = (X[c].to_numpy(dtype=float) for c in RFM_COLUMNS)
    return _check_rfm(x, tx, T, X.index)


def _check_rfm(x: Any, tx: Any, T: Any, index: pd.Index | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, tx, T = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=float)) for v in (x, tx, T)))
    idx = index if index is not None else pd.RangeIndex(x.size)
    rules = {
        "frequency": (x < 0) | (x != np.round(x)) | ~np.isfinite(x),
        "recency": (tx < 0) | (tx > T) | ((x == 0) & (tx != 0)) | ~np.isfinite(tx),
        "T": (T <= 0) | ~np.isfinite(T),
    }
    for column, bad in rules.items():
        if np.any(bad):
            flat = np.ravel(bad)
            raise ValueError(
                f"column {column!r} breaks the RFM rules (frequency a whole number >= 0, 0 <= recency <= T, "
                f"recency 0 without repeats, T > 0) in rows {_rows(flat, idx)}"
            )
    return x, tx, T


def _log1mexp(a: np.ndarray) -> np.ndarray:
    """log(1 - exp(a)) for a <= 0, accurate at both ends (Mächler 2012)."""
    with np.errstate(divide="ignore"):
        return np.where(a > -np.log(2.0), np.log(-np.expm1(a)), np.log1p(-np.exp(a)))


def _off_one(a: float) -> float:
    """The BG/NBD expectations have a removable 0/0 at a = 1: evaluate them a hair away (relative error ~1e-6)."""
    return a if abs(a - 1) > 1e-6 else 1 + 1e-6


class _TransactionModel(BaseEstimator):
    """Shared MLE fitting: log-parameters, L-BFGS-B from seeded starts, identical customers weighted once."""

    _names: tuple[str, ...] = ()

    def __init__(self, penalizer: float = 0.0, n_starts: int = 3, max_iter: int = 500, random_state: int = 0):
        self.penalizer = penalizer
        self.n_starts = n_starts
        self.max_iter = max_iter
        self.random_state = random_state

    def _log_lik(self, params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _start(self, T: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fit(self, X: pd.DataFrame, y: None = None) -> Self:
        """Maximum likelihood on an RFM frame with ``frequency``, ``recency`` and ``T`` columns."""
        x, tx, T = _rfm_arrays(X)
        rows, counts = np.unique(np.column_stack([x, tx, T]), axis=0, return_counts=True)
        weights = counts / counts.sum()
        ux, utx, uT = rows.T

        def objective(log_params: np.ndarray) -> float:
            params = np.exp(log_params)
            with np.errstate(all="ignore"):
                value = -float(weights @ self._log_lik(params, ux, utx, uT))
            value += self.penalizer * float(params @ params)
            return value if np.isfinite(value) else 1e12

        self.params_, self.log_likelihood_, self.converged_ = _maximise(
            objective, self._start(T), self.n_starts, self.max_iter, self.random_state, self._names
        )
        self.log_likelihood_ *= -len(x)
        self.n_customers_ = len(x)
        return self

    @property
    def _p(self) -> np.ndarray:
        check_is_fitted(self)
        return self.params_.to_numpy()

    def log_likelihood(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """Log-likelihood of each customer's (x, t_x, T) under the fitted parameters."""
        return self._log_lik(self._p, *_check_rfm(frequency, recency, T))

    def score(self, X: pd.DataFrame, y: None = None) -> float:
        """Mean log-likelihood per customer (higher is better)."""
        return float(np.mean(self._log_lik(self._p, *_rfm_arrays(X))))

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        raise NotImplementedError

    def expected_purchases(self, t: float, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        raise NotImplementedError

    def predict(self, X: pd.DataFrame, t: float) -> pd.DataFrame:
        """``p_alive`` now and ``expected_purchases`` in the next ``t`` time units, one row per customer."""
        x, tx, T = _rfm_arrays(X)
        return pd.DataFrame(
            {"p_alive": self.p_alive(x, tx, T), "expected_purchases": self.expected_purchases(t, x, tx, T)},
            index=X.index,
        )


def _maximise(
    objective: Callable[[np.ndarray], float],
    start: np.ndarray,
    n_starts: int,
    max_iter: int,
    seed: int,
    names: tuple[str, ...],
) -> tuple[pd.Series, float, bool]:
    rng = np.random.default_rng(seed)
    starts = [start] + [start + rng.normal(0.0, 1.0, start.size) for _ in range(max(n_starts, 1) - 1)]
    best = None
    for x0 in starts:
        options = {"maxiter": max_iter, "ftol": 1e-13, "gtol": 1e-9}
        res = minimize(objective, x0, method="L-BFGS-B", bounds=[(-15.0, 15.0)] * start.size, options=options)
        if best is None or res.fun < best.fun:
            best = res
    assert best is not None
    return pd.Series(np.exp(best.x), index=list(names)), float(best.fun), bool(best.success)


class BetaGeoNBD(_TransactionModel):
    """BG/NBD: purchases Poisson(lambda) while alive, dropout with probability p after each repeat purchase.

    lambda ~ Gamma(r, alpha), p ~ Beta(a, b). ``params_`` holds r, alpha, a, b. P(alive) is 1 for every
    non-repeater by construction; use ``ParetoNBD`` or ``ModifiedBetaGeoNBD`` for P(alive).

    Not under scikit-learn's ``parametrize_with_checks``: ``X`` must be an RFM frame with the named ``frequency``,
    ``recency`` and ``T`` columns, and ``predict`` needs the horizon ``t``.
    """

    _names = ("r", "alpha", "a", "b")
    _dropout_at_first = 0  # 1 for MBG/NBD: dropout may also follow the first purchase

    def _start(self, T: np.ndarray) -> np.ndarray:
        return np.log(np.array([0.5, max(float(np.mean(T)) / 10, 1e-3), 1.0, 2.0]))

    def _terms(self, params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, ...]:
        r, alpha, a, b = params
        m = self._dropout_at_first
        bx = b + x + m  # Beta posterior of p after surviving x (+ m) dropout opportunities
        can_die = (x > 0) | (m == 1)
        log_odds_dead = np.where(
            can_die,
            np.log(a) - np.log(np.where(can_die, bx - 1, 1.0)) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx)),
            -np.inf,
        )
        return r, alpha, a, b, bx, log_odds_dead

    def _log_lik(self, params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b, bx, log_odds_dead = self._terms(params, x, tx, T)
        head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + gammaln(a + b) + gammaln(bx)
        head += -gammaln(b) - gammaln(a + bx) - (r + x) * np.log(alpha + T)
        return np.asarray(head + np.logaddexp(0.0, log_odds_dead))

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(still active at T | x, t_x, T); exactly 1 for BG/NBD non-repeaters (see the class docstring)."""
        *_, log_odds_dead = self._terms(self._p, *_check_rfm(frequency, recency, T))
        return np.asarray(expit(-log_odds_dead))

    def expected_purchases(self, t: float, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """E[purchases in (T, T + t] | x, t_x, T], the conditional expectation of the papers.

        Computed as p_alive * (a + b' - 1)/(a - 1) * [1 - (1-z)^(a-1) 2F1(a + b + m - 1 - r, a - 1; a + b' - 1; z)]
        with b' = b + x + m and z = t / (alpha + T + t): Euler's transformation of the published 2F1, whose
        arguments grow with x and overflow, into one whose first two arguments do not depend on x.
        """
        x, tx, T = _check_rfm(frequency, recency, T)
        r, alpha, a_raw, b, bx, log_odds_dead = self._terms(self._p, x, tx, T)
        a = _off_one(float(a_raw))
        z = t / (alpha + T + t)
        m = self._dropout_at_first
        bracket = 1 - (1 - z) ** (a - 1) * hyp2f1(a + b + m - 1 - r, a - 1, a + bx - 1, z)
        return np.asarray(expit(-log_odds_dead) * (a + bx - 1) / (a - 1) * bracket)

    def expected_population(self, t: Any) -> np.ndarray:
        """E[repeat purchases in (0, t]] of a customer who just made a first purchase."""
        r, alpha, a, b = self._p
        a = _off_one(a)
        t = np.atleast_1d(np.asarray(t, dtype=float))
        z = t / (alpha + t)
        if self._dropout_at_first:
            return np.asarray(b / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b + 1, a + b, z)))
        return np.asarray((a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z)))


class ModifiedBetaGeoNBD(BetaGeoNBD):
    """MBG/NBD: BG/NBD where a customer may also drop out right after the first purchase.

    Non-repeaters get P(alive) < 1, falling with T, which fixes BG/NBD's P(alive) = 1 for them.

    Not under scikit-learn's ``parametrize_with_checks``: ``X`` must be an RFM frame with the named ``frequency``,
    ``recency`` and ``T`` columns, and ``predict`` needs the horizon ``t``.
    """

    _dropout_at_first = 1


class ParetoNBD(_TransactionModel):
    """Pareto/NBD: purchases Poisson(lambda) while alive, an exponential(mu) lifetime.

    lambda ~ Gamma(r, alpha), mu ~ Gamma(s, beta); ``params_`` holds r, alpha, s, beta.

    Not under scikit-learn's ``parametrize_with_checks``: ``X`` must be an RFM frame with the named ``frequency``,
    ``recency`` and ``T`` columns, and ``predict`` needs the horizon ``t``.
    """

    _names = ("r", "alpha", "s", "beta")

    def _start(self, T: np.ndarray) -> np.ndarray:
        scale = max(float(np.mean(T)) / 4, 1e-3)
        return np.log(np.array([0.5, scale, 0.5, scale]))

    @staticmethod
    def _log_a0(params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        """log A0 of Fader & Hardie (2005), eq. (19): A0 = F(t_x) - F(T), both terms positive, F decreasing.

        F(u) = 2F1(r+s+x, b; r+s+x+1; |alpha-beta|/(max+u)) / (max+u)^(r+s+x), with b = s+1 when alpha >= beta and
        b = r+x otherwise. Euler's transformation turns 2F1 into (1-z)^(1-b) 2F1(1, r+s+x+1-b; r+s+x+1; z), which
        stays finite as z -> 1, and the difference is taken in log space (log F1 + log(1 - F2/F1)).
        """
        r, alpha, s, beta = params
        rsx = r + s + x
        top, b2 = (alpha, s + 1.0) if alpha >= beta else (beta, r + x)
        gap = abs(alpha - beta)

        def log_f(u: np.ndarray) -> np.ndarray:
            z = gap / (top + u)
            return (1 - b2) * np.log1p(-z) + np.log(hyp2f1(1.0, rsx + 1 - b2, rsx + 1, z)) - rsx * np.log(top + u)

        lf_tx, lf_T = log_f(tx), log_f(T)
        return np.asarray(lf_tx + _log1mexp(np.minimum(lf_T - lf_tx, 0.0)))

    def _log_odds_dead(self, params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, s, beta = params
        log_a0 = self._log_a0(params, x, tx, T)
        return np.asarray(np.log(s) - np.log(r + s + x) + log_a0 + (r + x) * np.log(alpha + T) + s * np.log(beta + T))

    def _log_lik(self, params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, s, beta = params
        head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        return np.asarray(head + alive + np.logaddexp(0.0, self._log_odds_dead(params, x, tx, T)))

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(still active at T | x, t_x, T) (Fader & Hardie 2005 note, eq. 18)."""
        return np.asarray(expit(-self._log_odds_dead(self._p, *_check_rfm(frequency, recency, T))))

    def expected_purchases(self, t: float, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """E[purchases in (T, T + t] | x, t_x, T] = (r+x)/(alpha+T) * E[alive time in (T, T+t]] * P(alive)."""
        x, tx, T = _check_rfm(frequency, recency, T)
        r, alpha, s, beta = self._p
        return np.asarray((r + x) / (alpha + T) * _mean_alive_time(s, beta + T, t) * self.p_alive(x, tx, T))

    def expected_population(self, t: Any) -> np.ndarray:
        """E[purchases in (0, t]] of a customer who just arrived."""
        r, alpha, s, beta = self._p
        return np.asarray(r / alpha * _mean_alive_time(s, beta, np.atleast_1d(np.asarray(t, dtype=float))))


def _mean_alive_time(s: float, beta: Any, t: Any) -> np.ndarray:
    """E[min(lifetime, t)] for mu ~ Gamma(s, beta): beta/(s-1) * (1 - (beta/(beta+t))^(s-1)), with its s = 1 limit."""
    log_q = np.log(beta) - np.log(beta + t)
    if abs(s - 1) < 1e-9:
        return np.asarray(-beta * log_q)
    return np.asarray(-beta * np.expm1((s - 1) * log_q) / (s - 1))


class GammaGamma(BaseEstimator):
    """Gamma-Gamma spend model: transaction values ~ Gamma(p, nu), nu ~ Gamma(q, gamma) across customers.

    Fitted on customers with repeat purchases (``frequency`` > 0, ``monetary_value`` their mean repeat value).
    It assumes spend is independent of frequency: ``spend_frequency_corr_`` reports the correlation to check.

    Not under scikit-learn's ``parametrize_with_checks``: ``X`` must be a spend frame with the named ``frequency`` and
    ``monetary_value`` columns, and it has no ``predict``.
    """

    def __init__(self, penalizer: float = 0.0, n_starts: int = 3, max_iter: int = 500, random_state: int = 0):
        self.penalizer = penalizer
        self.n_starts = n_starts
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: None = None) -> Self:
        missing = [c for c in ("frequency", "monetary_value") if c not in X.columns]
        if missing:
            raise ValueError(f"spend frame lacks columns {missing}; it has {list(X.columns)[:20]}")
        x = X["frequency"].to_numpy(dtype=float)
        m = X["monetary_value"].to_numpy(dtype=float)
        bad = (x > 0) & ~(m > 0)
        if bad.any():
            raise ValueError(f"column 'monetary_value' must be > 0 for repeat buyers; rows {_rows(bad, X.index)}")
        keep = x > 0
        if keep.sum() < 3:
            raise ValueError("GammaGamma needs at least 3 customers with frequency > 0")
        x, m = x[keep], m[keep]

        def objective(log_params: np.ndarray) -> float:
            p, q, v = np.exp(log_params)
            ll = gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v) + (p * x - 1) * np.log(m)
            ll += p * x * np.log(x) - (p * x + q) * np.log(x * m + v)
            value = -float(np.mean(ll)) + self.penalizer * float(np.exp(2 * log_params).sum())
            return value if np.isfinite(value) else 1e12

        start = np.log(np.array([1.0, 2.0, float(np.mean(m))]))
        self.params_, self.log_likelihood_, self.converged_ = _maximise(
            objective, start, self.n_starts, self.max_iter, self.random_state, ("p", "q", "v")
        )
        self.log_likelihood_ *= -len(x)
        self.spend_frequency_corr_ = float(np.corrcoef(x, m)[0, 1]) if np.ptp(x) > 0 else float("nan")
        return self

    def expected_average_spend(self, frequency: Any, monetary_value: Any) -> np.ndarray:
        """E[spend per transaction | x, m_x]: a credibility-weighted mix of the population mean and m_x."""
        check_is_fitted(self)
        p, q, v = self.params_.to_numpy()
        x, m = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=float)) for v in (frequency, monetary_value)))
        m = np.where(x > 0, m, 0.0)
        return np.asarray(p * (v + x * m) / (p * x + q - 1))

    def customer_lifetime_value(
        self,
        transaction_model: _TransactionModel,
        frequency: Any,
        recency: Any,
        T: Any,
        monetary_value: Any,
        *,
        periods: int = 12,
        period_length: float = 30.0,
        discount_rate: float = 0.01,
    ) -> np.ndarray:
        """Discounted expected spend over ``periods`` periods of ``period_length`` time units each.

        Sum over k of (E[purchases in (0, k*L]] - E[purchases in (0, (k-1)*L]]) * E[spend] / (1 + d)^k, the
        expected purchases conditional on each customer's history (as ``lifetimes`` does, ``d`` per period).
        """
        spend = self.expected_average_spend(frequency, monetary_value)
        previous = np.zeros_like(spend)
        value = np.zeros_like(spend)
        for k in range(1, periods + 1):
            cumulative = transaction_model.expected_purchases(k * period_length, frequency, recency, T)
            value += (cumulative - previous) * spend / (1 + discount_rate) ** k
            previous = cumulative
        return value
