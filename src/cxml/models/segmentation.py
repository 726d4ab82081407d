"""Behavioural segments: k-means (or a Gaussian mixture) on scaled customer features, described in words.

Features are scaled by ``cxml.models.scaling.BehaviourScaler`` (shared with lookalikes). With ``features=None``
a frame that holds the basket features (``BASKET_FEATURES`` and ``category_share_*``, built by
``cxml.datasets.segments.segment_features``) is segmented on those alone: what customers buy and how much per
order. Channel, returns and timing are left to the descriptions and the value × engagement grid: on the simulated
company they do not follow the latent segments, and as clustering inputs they split customers by them (#18).
Otherwise the customer-360 ``DEFAULT_FEATURES`` are used.

k is chosen from ``k_range`` by a stated criterion: for k-means the highest silhouette (Euclidean, on a seeded
sample of at most ``sample_size`` customers), for the mixture the lowest BIC; only among the k whose smallest
segment holds at least ``min_share`` of the customers (when none does, the k with the largest smallest segment).
Segments are numbered by size, largest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from cxml import progress
from cxml.features.registry import FEATURES, describe
from cxml.models.scaling import CATEGORY_PREFIX, LOG_UNITS, BehaviourScaler, feature_unit, numeric_frame
from cxml.threads import pool_threads

BASKET_FEATURES: tuple[str, str] = ("lines_per_order", "units_per_line")
"""Kept order lines per order and units per kept line (last 365 days), beside the ``category_share_*`` columns."""

# (word when the segment is above the population, word when below), used to name segments
_WORDS: dict[str, tuple[str, str]] = {
    "recency_days": ("lapsed", "recent"),
    "orders_365d": ("frequent", "infrequent"),
    "orders_90d": ("frequent", "infrequent"),
    "spend_365d": ("high-spend", "low-spend"),
    "spend_90d": ("high-spend", "low-spend"),
    "avg_order_value": ("big-basket", "small-basket"),
    "mean_gap_days": ("slow-rhythm", "fast-rhythm"),
    "category_breadth": ("broad-basket", "narrow-basket"),
    "discount_share": ("discount-driven", "full-price"),
    "return_share": ("high-return", "low-return"),
    "channel_share_web": ("web", "off-web"),
    "channel_share_app": ("app", "off-app"),
    "channel_share_store": ("in-store", "online"),
    "channel_share_phone": ("phone", "off-phone"),
    "share_evening": ("evening", "daytime"),
    "share_weekend": ("weekend", "weekday"),
    "web_events_30d": ("digitally active", "digitally quiet"),
    "service_contacts_365d": ("service-heavy", "low-service"),
    "campaign_order_share": ("campaign-driven", "campaign-averse"),
    "tenure_days": ("long-standing", "recently joined"),
    "lines_per_order": ("many-item-basket", "few-item-basket"),
    "units_per_line": ("multi-unit", "single-unit"),
}
_BASKET_SENTENCES = {
    "lines_per_order": "{value:.1f} items per order",
    "units_per_line": "{value:.2f} units per item",
}
# the word for a segment most of whom have no value for a feature of this dimension (registry dimensions)
_MISSING_WORDS: dict[str, str] = {
    **dict.fromkeys(
        ("recency", "monetary", "breadth", "discount", "returns", "price", "channel", "timing", "campaigns"),
        "non-buying",
    ),
    "rhythm": "one-purchase",
    "web": "offline",
    "device": "offline",
    "referral": "offline",
    "service": "no-contact",
}


# ---------------------------------------------------------------------------------------------------------------
# the segmenter


def segment_columns(X: Any) -> list[str] | None:
    """The basket features of ``X`` (``BASKET_FEATURES`` and every ``category_share_*``) when it has them all,
    else ``None`` (the scaler's customer-360 default)."""
    columns = [str(c) for c in getattr(X, "columns", [])]
    categories = [c for c in columns if c.startswith(CATEGORY_PREFIX)]
    if all(f in columns for f in BASKET_FEATURES) and len(categories) >= 2:
        return [*BASKET_FEATURES, *categories]
    return None


@dataclass(frozen=True)
class Stability:
    """Agreement of segment assignments between refits with different seeds (adjusted Rand index)."""

    pairwise: pd.DataFrame
    n_clusters: dict[int, int]

    @property
    def mean_ari(self) -> float:
        values = self.pairwise.to_numpy()[np.triu_indices(len(self.pairwise), 1)]
        return float(values.mean()) if values.size else 1.0

    @property
    def min_ari(self) -> float:
        values = self.pairwise.to_numpy()[np.triu_indices(len(self.pairwise), 1)]
        return float(values.min()) if values.size else 1.0


class BehaviouralSegmenter(ClusterMixin, BaseEstimator):
    """Behavioural segments of customers, with k chosen by silhouette (k-means) or BIC (Gaussian mixture).

    ``n_clusters`` fixes k and skips the search. On basket features, customers without a kept purchase in the last
    365 days are one more segment (``idle_segment_``, numbered last) and k counts the others. Fitted: ``labels_``
    (segment per fitted row, 0 = largest), ``n_clusters_`` (every segment), ``selection_`` (the criterion for
    every k tried) and ``scaler_``.
    """

    def __init__(
        self,
        features: Sequence[str] | None = None,
        algorithm: Literal["kmeans", "gmm"] = "kmeans",
        k_range: tuple[int, int] = (3, 8),
        n_clusters: int | None = None,
        min_share: float = 0.03,
        sample_size: int = 3000,
        n_init: int = 10,
        clip: float = 5.0,
        n_jobs: int = 1,
        random_state: int = 0,
    ):
        self.features = features
        self.algorithm = algorithm
        self.k_range = k_range
        self.n_clusters = n_clusters
        self.min_share = min_share
        self.sample_size = sample_size
        self.n_init = n_init
        self.clip = clip
        self.n_jobs = n_jobs
        self.random_state = random_state

    # -- fitting ------------------------------------------------------------------------------------------------

    def _model(self, k: int) -> Any:
        if self.algorithm == "kmeans":
            return KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state)
        if self.algorithm == "gmm":
            return GaussianMixture(
                n_components=k, covariance_type="full", n_init=max(1, self.n_init // 3), random_state=self.random_state
            )
        raise ValueError(f"algorithm must be 'kmeans' or 'gmm', got {self.algorithm!r}")

    def _candidates(self, n: int) -> list[int]:
        if self.n_clusters is not None:
            if not 1 <= self.n_clusters <= n:
                raise ValueError(f"n_clusters={self.n_clusters} must lie in [1, {n}] (rows)")
            return [int(self.n_clusters)]
        lo, hi = self.k_range
        if not 2 <= lo <= hi:
            raise ValueError(f"k_range must be (lo, hi) with 2 <= lo <= hi, got {self.k_range}")
        ks = [k for k in range(lo, hi + 1) if k < n]
        if not ks:
            raise ValueError(f"too few rows ({n}) for k_range {self.k_range}")
        return ks

    def fit(self, X: Any, y: Any = None) -> Self:
        # BLAS/OpenMP pools capped at n_jobs: k-means on 5,000 rows took 16 s on 2 busy cores with the
        # default pool and 1 s with one thread
        with threadpool_limits(pool_threads(self.n_jobs)):
            return self._fit(X)

    def _fit(self, X: Any) -> Self:
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, skip_check_array=True, reset=True)
        else:
            X = validate_data(self, X, reset=True, dtype=np.float64, ensure_all_finite="allow-nan")
        features = self.features if self.features is not None else segment_columns(X)
        # customers without a basket to describe are one group of their own, not a cloud of identical points
        # that would claim a cluster, pull its neighbours in and shrink every spread the scaling divides by
        self.separate_idle_ = isinstance(X, pd.DataFrame) and BASKET_FEATURES[0] in (features or ())
        active = self._active(X)
        if not active.any():
            raise ValueError(f"no customer has {BASKET_FEATURES[0]}: nobody bought in the last 365 days")
        self.scaler_ = BehaviourScaler(features, clip=self.clip).fit(X[active] if self.separate_idle_ else X)
        Z = np.asarray(self.scaler_.transform(X))
        raw = numeric_frame(X, self.scaler_.features_)
        Za = Z[active]
        # the silhouette sample does not follow random_state: where the criterion is flat across k, a sample drawn
        # per seed made k (and so the segments) a coin toss between refits (stability 0.77 on 20,000 customers)
        rng = np.random.default_rng(0)
        sample = rng.choice(len(Za), size=min(self.sample_size, len(Za)), replace=False)
        rows, fitted = [], {}
        for k in self._candidates(len(Za)):
            model = self._model(k).fit(Za)
            labels = model.predict(Za)
            sizes = np.bincount(labels, minlength=k)
            row: dict[str, float] = {"k": k, "min_share": float(sizes.min() / len(Z))}
            if self.algorithm == "gmm":
                row["bic"] = float(model.bic(Za))
            sub = labels[sample]
            row["silhouette"] = float(silhouette_score(Za[sample], sub)) if 1 < len(np.unique(sub)) < len(sub) else 0.0
            rows.append(row)
            fitted[k] = model
        table = pd.DataFrame(rows).set_index("k")
        table["feasible"] = table["min_share"] >= self.min_share
        self.selection_ = table
        k = int(self._choose(table))
        self.model_ = fitted[k]
        # number segments by size, largest first (ties by original label), so refits are easy to compare; the
        # customers without a basket come last
        labels = self.model_.predict(Za)
        sizes = np.bincount(labels, minlength=k)
        order = np.lexsort((np.arange(k), -sizes))
        self.relabel_ = np.empty(k, dtype=int)
        self.relabel_[order] = np.arange(k)
        self.idle_segment_ = k if not active.all() else None
        self.n_clusters_ = k + (self.idle_segment_ is not None)
        self.labels_ = np.full(len(Z), k, dtype=int)
        self.labels_[active] = self.relabel_[labels]
        self._profile(raw, pd.DataFrame(Z, columns=self.scaler_.features_, index=raw.index))
        return self

    def _choose(self, table: pd.DataFrame) -> int:
        pool = table[table["feasible"]]
        if pool.empty:
            return int(table["min_share"].idxmax())
        if self.algorithm == "gmm":
            return int(pool["bic"].idxmin())
        return int(pool["silhouette"].idxmax())

    def _profile(self, raw: pd.DataFrame, scaled: pd.DataFrame) -> None:
        """Per segment and feature: how distinctive it is, from its values or from how often it is missing.

        A value z-score compares the segment's mean with the population's over customers who have a value (in
        the scaled space, divided by the population's spread); a missingness z-score compares the share without
        one. The missingness one is kept where the segment lacks values more often than the population and that
        stands out more than its values or concerns most of the segment, so a segment of non-buyers is described
        by "no purchases yet" rather than by the zero its missing order values were filled with.
        """
        groups = self.labels_
        present = scaled.where(raw.notna())
        spread = present.std(ddof=0).fillna(0.0).replace(0.0, 1.0)
        value_z = ((present.groupby(groups).mean() - present.mean()) / spread).fillna(0.0)
        self.population_mean_ = raw.mean()
        self.population_missing_ = raw.isna().mean()
        self.segment_mean_ = raw.groupby(groups).mean()
        self.population_median_ = raw.median()
        self.segment_median_ = raw.groupby(groups).median()
        self.segment_missing_ = raw.isna().groupby(groups).mean()
        p = self.population_missing_
        sd = np.sqrt(p * (1 - p)).replace(0.0, np.inf)
        missing_z = (self.segment_missing_ - p) / sd
        # most of the segment without a value: the few values left cannot describe it
        self.by_missing_ = (missing_z > 0) & ((missing_z > value_z.abs()) | (self.segment_missing_ >= 0.5))
        self.zscores_ = value_z.where(~self.by_missing_, missing_z)
        self.sizes_ = pd.Series(np.bincount(groups, minlength=self.n_clusters_), index=range(self.n_clusters_))

    # -- using it -----------------------------------------------------------------------------------------------

    def predict(self, X: Any) -> np.ndarray:
        """Segment number of each row (the same numbering as ``labels_``)."""
        check_is_fitted(self, "model_")
        if not isinstance(X, pd.DataFrame):
            X = validate_data(self, X, reset=False, dtype=np.float64, ensure_all_finite="allow-nan")
        Z = np.asarray(self.scaler_.transform(X))
        active = self._active(X)
        out = np.full(len(Z), len(self.relabel_), dtype=int)
        if active.any():
            with threadpool_limits(pool_threads(self.n_jobs)):
                out[active] = self.relabel_[self.model_.predict(Z[active])]
        return out

    def _active(self, X: Any) -> np.ndarray:
        """Rows segmented by their behaviour: all of them, or with basket features those who have a basket."""
        if not getattr(self, "separate_idle_", False):
            return np.ones(len(X), dtype=bool)
        return np.asarray(numeric_frame(X, [BASKET_FEATURES[0]])[BASKET_FEATURES[0]].notna().to_numpy())

    def segment(self, X: pd.DataFrame) -> pd.DataFrame:
        """Each customer's segment number and name, indexed like ``X``."""
        labels = self.predict(X)
        names = self.describe()["name"]
        return pd.DataFrame({"segment": labels, "segment_name": names.to_numpy()[labels]}, index=X.index)

    def describe(self, n_traits: int = 3) -> pd.DataFrame:
        """One row per segment: size, share, a short name and its ``n_traits`` most distinctive features in words.

        Distinctiveness is the z-score of the segment vs the population (see ``_profile``); each sentence says
        the segment's value in the feature registry's words and how it compares with the population's (medians
        for counts, money and days, whose z-scores are on the log scale; means otherwise). The name is
        made of the words for the two most distinctive features ("web, frequent customers").
        """
        check_is_fitted(self, "model_")
        total = int(self.sizes_.sum())
        rows: list[dict[str, Any]] = []
        used_names: set[str] = set()
        for seg in range(self.n_clusters_):
            z = self.zscores_.loc[seg]
            top, traits, said = [], [], set()
            for f in z.abs().sort_values(ascending=False, kind="stable").index:
                sentence = self._sentence(str(f), seg)
                words = sentence.split(" (")[0]
                if words not in said:  # several order features share "no orders in the last 365 days"
                    said.add(words)
                    top.append(f)
                    traits.append(sentence)
                if len(traits) == n_traits:
                    break
            name = _unique_name(self._name(seg), used_names)
            used_names.add(name)
            rows.append(
                {
                    "segment": seg,
                    "name": name,
                    "size": int(self.sizes_.get(seg, 0)),
                    "share": float(self.sizes_.get(seg, 0) / total),
                    "traits": traits,
                    "top_features": [str(f) for f in top],
                    "zscores": [round(float(z[f]), 2) for f in top],
                    "summary": "; ".join(traits),
                }
            )
        return pd.DataFrame(rows).set_index("segment")

    def _name(self, seg: int) -> str:
        z = self.zscores_.loc[seg]
        words: list[str] = []
        for f in z.abs().sort_values(ascending=False, kind="stable").index:
            feature = str(f)
            if self.by_missing_.loc[seg, feature]:
                word = _MISSING_WORDS.get(_dimension(feature), f"no {feature}")
                if _is_basket(feature):
                    word = "non-buying"
            else:
                high, low = _WORDS.get(feature, _category_words(feature))
                word = high if z[f] > 0 else low
            if word not in words:
                words.append(word)
            if len(words) == 2:
                break
        return f"{', '.join(words)} customers"

    def _sentence(self, feature: str, seg: int) -> str:
        """The segment's value in words against the population's; the missing-value sentence when that is the story."""
        if self.by_missing_.loc[seg, feature]:
            said = FEATURES[feature].missing if feature in FEATURES else f"{feature} missing"
            said = "no kept purchase in the last 365 days" if _is_basket(feature) else said
            share, overall = float(self.segment_missing_.loc[seg, feature]), float(self.population_missing_[feature])
            return f"{said} ({share:.0%} of the segment, {overall:.0%} overall)"
        if feature_unit(feature) in LOG_UNITS and self.population_median_[feature] > 0:
            # skewed columns: medians, which agree with the log scale the z-scores are measured on
            by_segment, population, typical = self.segment_median_, self.population_median_, "typical"
        else:
            by_segment, population, typical = self.segment_mean_, self.population_mean_, "average"
        seg_value, pop_value = float(by_segment.loc[seg, feature]), float(population[feature])
        said = describe(feature, seg_value) if feature in FEATURES else _basket_sentence(feature, seg_value)
        return f"{said} ({_compare(feature, seg_value, pop_value, typical)})"

    def stability(self, X: Any, seeds: Sequence[int] = (0, 1, 2)) -> Stability:
        """Refit (k search included) with each seed and compare assignments by adjusted Rand index."""
        labels, ks = {}, {}
        for s in progress.bar(seeds, "segment stability refits", len(seeds)):
            model = clone(self).set_params(random_state=int(s)).fit(X)
            labels[int(s)], ks[int(s)] = model.labels_, model.n_clusters_
        names = list(labels)
        ari = np.array([[adjusted_rand_score(labels[a], labels[b]) for b in names] for a in names])
        return Stability(pairwise=pd.DataFrame(ari, index=names, columns=names), n_clusters=ks)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def _compare(feature: str, seg_value: float, pop_value: float, typical: str = "average") -> str:
    """How a segment's value compares with the population's: a ratio for counts, money and days."""
    unit = feature_unit(feature)
    ref = f"{typical} {_plain(unit, pop_value)}"
    if unit in LOG_UNITS and pop_value > 0:
        r = seg_value / pop_value
        if 1.9 <= r < 2.1:
            return f"twice the {ref}"
        if 0.45 <= r < 0.55:
            return f"half the {ref}"
        if 0.9 <= r < 1.1:
            return f"about the {ref}"
        return f"{r:.1f}× the {ref}" if r >= 1 else f"{r:.0%} of the {ref}"
    return ref


def _plain(unit: str | None, value: float) -> str:
    if unit == "share":
        return f"{value:.0%}"
    if unit == "days":
        return f"{value:.0f} days"
    if unit == "currency":
        return f"{value:,.2f}"
    if unit == "count":
        return f"{value:.1f}"
    return f"{value:.2f}"


def _is_basket(feature: str) -> bool:
    return feature in BASKET_FEATURES or feature.startswith(CATEGORY_PREFIX)


def _category_words(feature: str) -> tuple[str, str]:
    if feature.startswith(CATEGORY_PREFIX):
        category = feature.removeprefix(CATEGORY_PREFIX)
        return f"{category}-buying", f"little-{category}"
    return f"high {feature}", f"low {feature}"


def _basket_sentence(feature: str, value: float) -> str:
    if feature in _BASKET_SENTENCES:
        return _BASKET_SENTENCES[feature].format(value=value)
    if feature.startswith(CATEGORY_PREFIX):
        return f"{value:.0%} of items from {feature.removeprefix(CATEGORY_PREFIX)}"
    return f"{feature} {value:.3g}"


def _dimension(feature: str) -> str:
    info = FEATURES.get(feature)
    return info.dimension if info is not None else ""


def _unique_name(name: str, used: set[str]) -> str:
    if name not in used:
        return name
    k = 2
    while f"{name} ({k})" in used:
        k += 1
    return f"{name} ({k})"


# ---------------------------------------------------------------------------------------------------------------
# value × engagement


VALUE_COLUMN = "spend_365d"
ENGAGEMENT_RULE = "bought in the last 90 days (orders_90d ≥ 1) or ≥ 2 web/app events in the last 30 days"


def value_engagement_grid(features: pd.DataFrame, *, top_share: float = 0.2, min_web_events: int = 2) -> pd.DataFrame:
    """Each customer's cell in a 2 × 2 grid: top ``top_share`` by value × engaged or not.

    Rules: *high value* is the top 20 % by ``spend_365d`` (rank with ties broken by customer order, so the group
    is exactly ``ceil(0.2 n)`` customers, and never someone with zero spend); *engaged* means a kept purchase in
    the last 90 days (``orders_90d ≥ 1``) or at least ``min_web_events`` web/app events in the last 30 days.
    Returns ``high_value``, ``engaged`` (bool) and ``cell`` ("high value, engaged", …), indexed like ``features``.
    """
    frame = numeric_frame(features, [VALUE_COLUMN, "orders_90d", "web_events_30d"])
    if not 0 < top_share < 1:
        raise ValueError(f"top_share must lie in (0, 1), got {top_share}")
    spend = frame[VALUE_COLUMN].fillna(0.0)
    k = int(np.ceil(top_share * len(frame)))
    order = np.argsort(-spend.to_numpy(), kind="stable")
    high = np.zeros(len(frame), dtype=bool)
    high[order[:k]] = True
    high &= spend.to_numpy() > 0
    engaged = (frame["orders_90d"].fillna(0) >= 1) | (frame["web_events_30d"].fillna(0) >= min_web_events)
    cell = np.where(high, "high value", "other value").astype(object) + np.where(
        engaged.to_numpy(), ", engaged", ", not engaged"
    )
    return pd.DataFrame({"high_value": high, "engaged": engaged.to_numpy(), "cell": cell}, index=frame.index)


def grid_summary(grid: pd.DataFrame, features: pd.DataFrame | None = None) -> pd.DataFrame:
    """Customers per cell (and their share); with ``features``, the cell's mean ``spend_365d`` too."""
    counts = grid["cell"].value_counts().sort_index()
    out = pd.DataFrame({"customers": counts, "share": counts / counts.sum()})
    if features is not None:
        out["mean_spend_365d"] = features[VALUE_COLUMN].fillna(0).groupby(grid["cell"]).mean()
    return out
