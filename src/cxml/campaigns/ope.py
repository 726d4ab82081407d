"""Off-policy evaluation: what a candidate targeting rule would have earned, read from the logs of a campaign that
already ran with known propensities, before anyone tries it live.

Rows i = 1..n were logged with arm a_i drawn with probability p_i (the logging policy's ``propensity``) and outcome
y_i. The candidate (target) policy is a matrix π(a | x_i), one row per log row. With w_i = π(a_i | x_i) / p_i and a
reward model q̂(x, a) (Dudík, Langford & Li 2011, "Doubly robust policy evaluation and learning"):

- **IPS** (Horvitz–Thompson): V̂ = mean_i w_i y_i. Unbiased when the propensities are right; high variance when
  the target puts weight where the logger rarely went.
- **SNIPS** (self-normalised; Swaminathan & Joachims 2015): V̂ = Σ w_i y_i / Σ w_i. Slightly biased, far less
  variance; its interval uses the delta-method scores w_i (y_i − V̂) / mean(w).
- **DM** (direct method): V̂ = mean_i Σ_a π(a | x_i) q̂(x_i, a). Low variance, biased as much as q̂ is wrong.
- **DR** (doubly robust): V̂ = mean_i [Σ_a π(a | x_i) q̂(x_i, a) + w_i (y_i − q̂(x_i, a_i))]. Unbiased if either
  the propensities or q̂ are right, with the variance of the residuals rather than of y.

**Intervals (95 % by default).** IPS, SNIPS and DR are means of per-row scores, so their intervals are the CLT's,
V̂ ± z · sd(scores) / √n. DM's is the percentile bootstrap of rows (``cxml.evaluation.bootstrap``) with the
reward model held fixed: it shows sampling noise, not the model's bias, which is why DM covers the truth least
often (bench/campaign_readout.py measures each coverage).

**Reward model.** q̂ is a gradient-boosted model (LightGBM through ``cxml.models.boosting``, fixed seed, small:
≤ 200 trees of depth ≤ 4 with early stopping on a fifth of the training folds) on the row's features plus a one-hot
of the arm, **cross-fitted**: the rows are split into K folds and each fold is scored by the model fitted on the
others (Chernozhukov et al. 2018), so no row's own outcome leaks into its DR correction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from cxml.evaluation.bootstrap import bootstrap_interval
from cxml.models.boosting import BoosterParams, predict_margin, train_booster

ESTIMATORS = ("ips", "snips", "dm", "dr")


@dataclass(frozen=True)
class Estimate:
    """A policy value with its interval."""

    value: float
    lower: float
    upper: float


def _clt(scores: np.ndarray, level: float, value: float | None = None) -> Estimate:
    centre = float(scores.mean()) if value is None else value
    half = float(stats.norm.ppf(0.5 + level / 2) * scores.std(ddof=1) / np.sqrt(scores.size))
    return Estimate(centre, centre - half, centre + half)


def targeting_rule(
    frame: pd.DataFrame, arms: Sequence[str], *, score: str, arm: str, control: str, top: float
) -> np.ndarray:
    """Target probabilities (n, len(arms)) of "``arm`` to the ``top`` share of rows by ``score``, else
    ``control``": the round(top · n) highest scores get ``arm`` (ties broken by row order), every other row
    ``control``."""
    arms = list(arms)
    for name in (arm, control):
        if name not in arms:
            raise ValueError(f"{name!r} is not one of the arms {arms}")
    if score not in frame.columns:
        raise ValueError(f"score column {score!r} is not in the frame; it has {list(frame.columns)}")
    if not 0.0 <= top <= 1.0:
        raise ValueError(f"top must be a share in [0, 1], got {top}")
    values = frame[score].to_numpy(dtype=float)
    if np.isnan(values).any():
        raise ValueError(f"score column {score!r} has {int(np.isnan(values).sum())} missing values")
    chosen = np.argsort(-values, kind="stable")[: round(top * values.size)]
    target = np.zeros((values.size, len(arms)))
    target[:, arms.index(control)] = 1.0
    target[chosen, arms.index(control)] = 0.0
    target[chosen, arms.index(arm)] = 1.0
    return target


def _design(x: np.ndarray, arm_index: np.ndarray, n_arms: int) -> np.ndarray:
    onehot = np.zeros((x.shape[0], n_arms))
    onehot[np.arange(x.shape[0]), arm_index] = 1.0
    return np.hstack([x, onehot])


def cross_fitted_rewards(
    x: np.ndarray,
    arm_index: np.ndarray,
    y: np.ndarray,
    n_arms: int,
    *,
    arms_needed: np.ndarray,
    n_folds: int = 5,
    seed: int = 0,
) -> np.ndarray:
    """q̂(x_i, a) for every row and every arm in ``arms_needed`` (NaN elsewhere), each row scored by the model fitted
    on the other folds."""
    binary = bool(np.isin(y, (0.0, 1.0)).all())
    params = BoosterParams(
        algorithm="lightgbm",
        objective="binary" if binary else "regression",
        n_estimators=200,
        learning_rate=0.1,
        max_depth=4,
        num_leaves=15,
        early_stopping_rounds=20,
        random_state=seed,
    )
    rng = np.random.default_rng(seed)
    fold = rng.permutation(np.arange(y.size) % n_folds)
    q = np.full((y.size, n_arms), np.nan)
    for k in range(n_folds):
        train, test = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        valid = rng.random(train.size) < 0.2
        fit, check = train[~valid], train[valid]
        booster, n_iter = train_booster(
            params,
            _design(x[fit], arm_index[fit], n_arms),
            y[fit],
            _design(x[check], arm_index[check], n_arms),
            y[check],
        )
        # logs with categorical features repeat a few distinct rows many times: score each distinct row once
        # (and every arm in one call: a predict call has a fixed cost of ~10 ms)
        distinct, back = np.unique(x[test], axis=0, return_inverse=True)
        needed = np.flatnonzero(arms_needed)
        design = _design(np.tile(distinct, (needed.size, 1)), np.repeat(needed, len(distinct)), n_arms)
        margin = predict_margin(booster, design, n_iter).reshape(needed.size, len(distinct))
        q[np.ix_(test, needed)] = (1.0 / (1.0 + np.exp(-margin)) if binary else margin).T[back.ravel()]
    return q


def _validate(logs: pd.DataFrame, target: np.ndarray, arms: list[str], columns: list[str]) -> None:
    missing = [c for c in columns if c not in logs.columns]
    if missing:
        raise ValueError(f"logs lack column(s) {missing}; they have {list(logs.columns)}")
    if target.shape != (len(logs), len(arms)):
        raise ValueError(f"target must be (rows, arms) = {(len(logs), len(arms))}, got {target.shape}")
    if (target < 0).any() or not np.allclose(target.sum(axis=1), 1.0):
        raise ValueError("every row of target must be probabilities over the arms (non-negative, summing to 1)")
    if len(logs) < 10:
        raise ValueError(f"need at least 10 logged rows to evaluate a policy, got {len(logs)}")


def evaluate(
    logs: pd.DataFrame,
    target: np.ndarray,
    arms: Sequence[str],
    *,
    features: Sequence[str],
    outcome: str = "outcome",
    propensity: str = "propensity",
    arm: str = "arm",
    seed: int = 0,
    n_folds: int = 5,
    level: float = 0.95,
    n_boot: int = 200,
) -> dict[str, Estimate]:
    """The target policy's value by IPS, SNIPS, DM and DR, each with its interval (see the module docstring)."""
    arms, features = list(arms), list(features)
    target = np.asarray(target, dtype=float)
    _validate(logs, target, arms, [*features, outcome, propensity, arm])
    logged = logs[arm].astype(str)
    unknown = sorted(set(logged) - set(arms))
    if unknown:
        raise ValueError(f"logs name arm(s) {unknown} that are not among {arms}")
    arm_index = pd.Categorical(logged, categories=arms).codes.astype(int)
    p = logs[propensity].to_numpy(dtype=float)
    if not ((p > 0) & (p <= 1)).all():
        raise ValueError(f"{propensity!r} must be in (0, 1] on every row (a zero-propensity row cannot be weighted)")
    non_numeric = [c for c in features if not pd.api.types.is_numeric_dtype(logs[c])]
    if non_numeric:
        raise ValueError(f"features must be numeric (encode them first): {non_numeric}")
    y = logs[outcome].to_numpy(dtype=float)
    x = logs[features].to_numpy(dtype=float)
    rows = np.arange(y.size)
    w = target[rows, arm_index] / p
    ips = w * y
    snips_value = float(ips.sum() / w.sum())
    q = cross_fitted_rewards(
        x,
        arm_index,
        y,
        len(arms),
        arms_needed=(target.sum(axis=0) > 0) | np.isin(np.arange(len(arms)), arm_index),
        n_folds=n_folds,
        seed=seed,
    )
    dm = np.nansum(target * np.nan_to_num(q), axis=1)
    dr = dm + w * (y - q[rows, arm_index])
    dm_interval = bootstrap_interval(y.size, lambda idx: float(dm[idx].mean()), n_boot=n_boot, seed=seed, level=level)
    return {
        "ips": _clt(ips, level),
        "snips": _clt(w * (y - snips_value) / w.mean(), level, snips_value) if w.sum() > 0 else _clt(ips, level),
        "dm": Estimate(float(dm.mean()), *dm_interval),
        "dr": _clt(dr, level),
    }
