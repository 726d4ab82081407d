"""Pure metric functions: arrays in, numbers out. Each docstring states the definition used."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from cxml.evaluation.bootstrap import bootstrap_interval


def lift_at(y_true: np.ndarray, score: np.ndarray, fraction: float = 0.10) -> float:
    """Lift@k: positive rate among the top ``fraction`` of customers by score, divided by the overall rate.

    Ties at the cut-off are broken by a stable sort, so the top group has exactly ceil(fraction * n) rows.
    """
    y = np.asarray(y_true, dtype=float)
    s = np.asarray(score, dtype=float)
    if y.size == 0 or y.mean() == 0:
        return float("nan")
    k = max(1, int(np.ceil(fraction * y.size)))
    top = np.argsort(-s, kind="stable")[:k]
    return float(y[top].mean() / y.mean())


def binary_metrics(y_true: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC (average precision), Brier score and lift@10 % of a probability score.

    Brier is only meaningful for calibrated probabilities; for a rank-only score it is reported as NaN
    when any score lies outside [0, 1].
    """
    y = np.asarray(y_true, dtype=int)
    s = np.asarray(score, dtype=float)
    in_unit = bool(np.all((s >= 0) & (s <= 1)))
    return {
        "roc_auc": float(roc_auc_score(y, s)),
        "pr_auc": float(average_precision_score(y, s)),
        "brier": float(brier_score_loss(y, s)) if in_unit else float("nan"),
        "lift_at_10": lift_at(y, s, 0.10),
    }


def bootstrap_ci(
    y_true: np.ndarray,
    score: np.ndarray,
    metric: str,
    *,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of one ``binary_metrics`` entry, resampling customers with replacement."""
    y = np.asarray(y_true, dtype=int)
    s = np.asarray(score, dtype=float)

    def statistic(idx: np.ndarray) -> float:
        if y[idx].min() == y[idx].max():  # one class only: no AUC
            return float("nan")
        return binary_metrics(y[idx], s[idx])[metric]

    return bootstrap_interval(y.size, statistic, n_boot=n_boot, level=level, seed=seed)
