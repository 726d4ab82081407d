"""Customer-360 features as a numeric frame, scaled for distances (segments and lookalikes share it).

1. Missing values mean "nothing to measure yet" and are filled by unit: ``days`` → the column's largest value
   (never = longest ago), ``count``/``currency`` → 0, every other unit → the population median.
2. ``count``, ``currency`` and ``days`` columns (money and counts are heavily right-skewed) get a signed
   ``log1p``; columns the feature registry does not know get it when they are non-negative with skewness > 1.
3. Category shares (``category_share_<category>`` columns, two or more) are compositional: they become centred
   log-ratios, ``log(share + 0.001) − the customer's mean of those logs``, so a taste for one category is measured
   against the customer's other categories rather than as eight correlated shares.
4. Robust scaling: ``(x − median) / IQR`` (the standard deviation when the IQR is 0, 1 when both are), then
   clipped to ``±clip`` so a handful of extreme customers cannot claim a segment of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
from scipy.stats import skew
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from cxml.features.registry import FEATURES

DEFAULT_FEATURES: tuple[str, ...] = (
    "recency_days",
    "orders_365d",
    "spend_365d",
    "avg_order_value",
    "mean_gap_days",
    "category_breadth",
    "discount_share",
    "return_share",
    "channel_share_web",
    "channel_share_app",
    "channel_share_store",
    "channel_share_phone",
    "share_evening",
    "share_weekend",
    "web_events_30d",
    "service_contacts_365d",
)
"""The behavioural dimensions segmented on when ``features=None`` and the frame has them all (16 columns)."""

LOG_UNITS = frozenset({"count", "currency", "days"})
CATEGORY_PREFIX = "category_share_"
CATEGORY_FLOOR = 0.001
"""Added to a category share before its log: a category never bought counts as a small share, not minus infinity."""


def numeric_frame(X: Any, features: Sequence[str] | None, *, default: Sequence[str] = ()) -> pd.DataFrame:
    """The chosen columns of ``X`` as float64, or a ``ValueError`` naming the column and a few rows.

    ``features=None`` takes ``default`` when the frame has all of it, else every column. Infinite values,
    non-numeric values and duplicated customer ids are refused.
    """
    if not isinstance(X, pd.DataFrame):
        arr = np.asarray(X, dtype=float)
        if arr.ndim != 2:
            raise ValueError(f"expected a 2-d table of features, got shape {arr.shape}")
        X = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
    if X.index.has_duplicates:
        dup = X.index[X.index.duplicated()].unique()[:5].tolist()
        raise ValueError(f"duplicated customer ids in the index: {dup}")
    if features is None:
        cols = list(default) if default and all(c in X.columns for c in default) else [str(c) for c in X.columns]
    else:
        cols = [str(c) for c in features]
        missing = [c for c in cols if c not in X.columns]
        if missing:
            raise ValueError(f"missing feature column(s) {missing}; the frame has {len(X.columns)} columns")
    if not cols:
        raise ValueError("no feature columns to use")
    out = {}
    for col in cols:
        s = X[col]
        if pd.api.types.is_bool_dtype(s):
            s = s.astype(float)
        values = pd.to_numeric(s, errors="coerce")
        bad = values.isna() & s.notna()
        if bad.any():
            rows = list(X.index[bad.to_numpy()][:5])
            raise ValueError(f"column {col!r} is not numeric: e.g. rows {rows} hold {s[bad].head(3).tolist()}")
        values = values.astype("float64")
        inf = np.isinf(values.to_numpy())
        if inf.any():
            raise ValueError(f"column {col!r} holds infinite values, e.g. rows {list(X.index[inf][:5])}")
        out[col] = values
    return pd.DataFrame(out, index=X.index)


def feature_unit(name: str) -> str | None:
    if name.startswith(CATEGORY_PREFIX):
        return "share"
    info = FEATURES.get(name)
    return info.unit if info is not None else None


def _signed_log1p(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


class BehaviourScaler(TransformerMixin, BaseEstimator):
    """Fill, log-transform and robustly scale customer features (rules in the module docstring).

    A DataFrame in gives a DataFrame out, indexed like it, with the ``features_`` columns (picked by name, so the
    frame may hold more); an array in goes through scikit-learn's validation and gives a float64 array out.
    """

    def __init__(self, features: Sequence[str] | None = None, clip: float = 5.0):
        self.features = features
        self.clip = clip

    def fit(self, X: Any, y: Any = None) -> Self:
        if not isinstance(X, pd.DataFrame):  # arrays: scikit-learn's checks (sparse, complex, empty, 1-d, inf)
            X = validate_data(self, X, reset=True, dtype=np.float64, ensure_all_finite="allow-nan")
        frame = numeric_frame(X, self.features, default=DEFAULT_FEATURES)
        self.features_ = list(frame.columns)
        self.n_features_in_ = frame.shape[1]
        fill, log, center, scale = {}, {}, {}, {}
        filled: dict[str, np.ndarray] = {}
        for col in self.features_:
            values = frame[col].to_numpy()
            present = values[~np.isnan(values)]
            unit = feature_unit(col)
            if present.size == 0:
                fill[col] = 0.0
            elif unit == "days":
                fill[col] = float(present.max())
            elif unit in ("count", "currency"):
                fill[col] = 0.0
            else:
                fill[col] = float(np.median(present))
            if col in self._composition():
                log[col] = False  # the log-ratio below
            elif unit is not None:
                log[col] = unit in LOG_UNITS
            else:
                log[col] = bool(present.size > 2 and present.min() >= 0 and np.nan_to_num(skew(present)) > 1)
            v = np.where(np.isnan(values), fill[col], values)
            filled[col] = _signed_log1p(v) if log[col] else v
        for col, z in self._log_ratios(filled).items():
            q1, med, q3 = np.percentile(z, [25, 50, 75])
            spread = q3 - q1
            if spread <= 1e-12:
                spread = float(np.std(z))
            center[col], scale[col] = float(med), float(spread) if spread > 1e-12 else 1.0
        self.fill_, self.log_, self.center_, self.scale_ = fill, log, center, scale
        return self

    def transform(self, X: Any) -> Any:
        """The scaled features: a DataFrame for a DataFrame (same index), a float64 array for an array."""
        check_is_fitted(self, "features_")
        array_in = not isinstance(X, pd.DataFrame)
        if array_in:
            X = validate_data(self, X, reset=False, dtype=np.float64, ensure_all_finite="allow-nan")
        frame = numeric_frame(X, self.features_)
        filled = {}
        for col in self.features_:
            v = frame[col].fillna(self.fill_[col]).to_numpy()
            filled[col] = _signed_log1p(v) if self.log_[col] else v
        out = {
            col: np.clip((v - self.center_[col]) / self.scale_[col], -self.clip, self.clip)
            for col, v in self._log_ratios(filled).items()
        }
        scaled = pd.DataFrame(out, index=frame.index)
        return scaled.to_numpy(dtype=np.float64) if array_in else scaled

    def _composition(self) -> list[str]:
        """The category-share columns turned into centred log-ratios (none unless there are two or more)."""
        cols = [c for c in self.features_ if c.startswith(CATEGORY_PREFIX)]
        return cols if len(cols) >= 2 else []

    def _log_ratios(self, filled: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``filled`` with the category shares replaced by their centred log-ratios (module docstring, step 3)."""
        cols = self._composition()
        if not cols:
            return filled
        logs = np.log(np.column_stack([np.clip(filled[c], 0.0, None) for c in cols]) + CATEGORY_FLOOR)
        ratios = logs - logs.mean(axis=1, keepdims=True)
        return {**filled, **{c: ratios[:, j] for j, c in enumerate(cols)}}

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "features_")
        return np.asarray(self.features_, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values are filled by unit (module docstring)
        return tags
