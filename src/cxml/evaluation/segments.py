"""Performance per segment: which customer groups the model serves worse than the rest (pure).

Segments are derived from columns the holdout has: for the contract features, tenure bands, value bands
(``spend_365d`` quartiles) and the preferred order channel; for tables users bring, every categorical column
with at most ``MAX_LEVELS`` levels. ``gender`` and an age band (from an ``age`` column) are added whenever present,
so fairness gaps are visible. A segment is flagged when its ROC-AUC differs from the overall one by more than
``GAP_THRESHOLD``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

MAX_LEVELS = 8
GAP_THRESHOLD = 0.05
MIN_ROWS = 30
TENURE_BANDS = (-np.inf, 90, 365, 730, np.inf)
TENURE_LABELS = ("< 3 months", "3-12 months", "1-2 years", "2+ years")
AGE_BANDS = (-np.inf, 25, 35, 45, 55, 65, np.inf)
AGE_LABELS = ("< 25", "25-34", "35-44", "45-54", "55-64", "65+")
CHANNEL_PREFIX = "channel_share_"


def _find(frame: pd.DataFrame, name: str) -> str | None:
    return next((c for c in frame.columns if str(c).lower() == name), None)


def segment_columns(X: pd.DataFrame) -> dict[str, pd.Series]:
    """Segment label per row, by dimension name; only dimensions the frame's columns allow."""
    out: dict[str, pd.Series] = {}
    if "tenure_days" in X.columns:
        out["tenure"] = pd.cut(X["tenure_days"], TENURE_BANDS, labels=TENURE_LABELS, right=False).astype(str)
    if "spend_365d" in X.columns:
        spend = X["spend_365d"].astype(float)
        ranks = spend.rank(method="first")
        quart = pd.qcut(ranks, 4, labels=["Q1 (lowest)", "Q2", "Q3", "Q4 (highest)"])
        out["value (spend_365d)"] = quart.astype(str).where(spend.notna(), "unknown")
    channels = [c for c in X.columns if str(c).startswith(CHANNEL_PREFIX)]
    if channels:
        shares = X[channels].astype(float)
        preferred = shares.fillna(-1).idxmax(axis=1).str.removeprefix(CHANNEL_PREFIX)
        out["preferred channel"] = preferred.where(shares.notna().any(axis=1) & (shares.max(axis=1) > 0), "none")
    age = _find(X, "age")
    if age is not None and pd.api.types.is_numeric_dtype(X[age]):
        out["age band"] = pd.cut(X[age], AGE_BANDS, labels=AGE_LABELS, right=False).astype(str)
    for col in X.columns:
        if col in out or str(col).lower() == "age" or pd.api.types.is_float_dtype(X[col]):
            continue
        levels = X[col].nunique(dropna=False)
        if 2 <= levels <= MAX_LEVELS and (not pd.api.types.is_numeric_dtype(X[col]) or str(col).lower() == "gender"):
            out[str(col)] = X[col].astype(str)
    return out


def _auc(y: np.ndarray, s: np.ndarray, fn: object) -> float:
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(fn(y, s))  # type: ignore[operator]


def segment_table(X: pd.DataFrame, y: np.ndarray, score: np.ndarray, *, gap: float = GAP_THRESHOLD) -> pd.DataFrame:
    """One row per (dimension, segment): rows, label rate, ROC-AUC, PR-AUC, gap to overall ROC-AUC, flag.

    Segments with fewer than ``MIN_ROWS`` rows or a single class are reported but never flagged.
    """
    y, score = np.asarray(y, dtype=int), np.asarray(score, dtype=float)
    overall = _auc(y, score, roc_auc_score)
    rows = []
    for dimension, labels in segment_columns(X).items():
        values = labels.to_numpy()
        for level in sorted(pd.unique(values), key=str):
            mask = values == level
            ys, ss = y[mask], score[mask]
            roc = _auc(ys, ss, roc_auc_score)
            diff = roc - overall
            rows.append(
                {
                    "dimension": dimension,
                    "segment": str(level),
                    "rows": int(mask.sum()),
                    "label_rate": float(ys.mean()) if mask.any() else float("nan"),
                    "mean_score": float(ss.mean()) if mask.any() else float("nan"),
                    "roc_auc": roc,
                    "pr_auc": _auc(ys, ss, average_precision_score),
                    "gap": diff,
                    "flagged": bool(mask.sum() >= MIN_ROWS and np.isfinite(diff) and abs(diff) > gap),
                }
            )
    return pd.DataFrame(
        rows,
        columns=["dimension", "segment", "rows", "label_rate", "mean_score", "roc_auc", "pr_auc", "gap", "flagged"],
    )
