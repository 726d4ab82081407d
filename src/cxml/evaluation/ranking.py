"""Ranking metrics for recommendations: a score matrix (customers × items) against a relevance matrix.

Definitions (``K`` the cut-off, ``rel(i)`` 1 when the item at rank ``i`` is relevant):

* Owned items are masked first: they are never ranked (score −∞) and never relevant. A customer counts only with
  at least one relevant non-owned item (``R ≥ 1`` of them); the metric is the mean over those customers.
* The top K are the K highest scores; ties (and NaN, ranked last) are broken by column order. When fewer than K
  items are not owned, the empty slots are misses.
* precision@K = hits / K; recall@K = hits / R; Success@K (hit rate) = 1 if hits ≥ 1, else 0.
* AP@K = (1 / min(K, R)) · Σ_{i ≤ K} precision@i · rel(i); MAP@K is its mean.
* NDCG@K = DCG / IDCG with DCG = Σ_{i ≤ K} rel(i) / log2(i + 1) and IDCG the DCG of min(K, R) hits at the top.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeAlias

import numpy as np
import pandas as pd

from cxml.evaluation.bootstrap import bootstrap_interval

Matrix: TypeAlias = pd.DataFrame | np.ndarray
METRICS: tuple[str, ...] = ("map", "success", "precision", "recall", "ndcg")


def _arrays(scores: Matrix, relevance: Matrix, owned: Matrix | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Aligned float scores, boolean relevance and owned mask (frames are aligned on index and columns)."""
    if isinstance(scores, pd.DataFrame):
        if isinstance(relevance, pd.DataFrame):
            relevance = relevance.reindex(index=scores.index, columns=scores.columns)
        if isinstance(owned, pd.DataFrame):
            owned = owned.reindex(index=scores.index, columns=scores.columns)
    s = np.asarray(scores, dtype=float)
    r = np.asarray(pd.DataFrame(relevance).fillna(0), dtype=float) > 0
    o = np.zeros(s.shape, bool) if owned is None else np.asarray(pd.DataFrame(owned).fillna(False), dtype=bool)
    if not (s.shape == r.shape == o.shape) or s.ndim != 2:
        raise ValueError(f"scores {s.shape}, relevance {r.shape} and owned {o.shape} must be one 2-D shape")
    return s, r, o


def top_k(scores: Matrix, k: int, owned: Matrix | None = None) -> np.ndarray:
    """Column positions of each row's ``k`` best non-owned items, best first (owned and NaN scores rank last)."""
    s = np.asarray(scores, dtype=float)
    o = np.zeros(s.shape, bool) if owned is None else np.asarray(owned, dtype=bool)
    masked = np.where(o | np.isnan(s), -np.inf, s)
    return np.argsort(-masked, axis=1, kind="stable")[:, :k]


def ranking_per_customer(scores: Matrix, relevance: Matrix, owned: Matrix | None = None, k: int = 10) -> pd.DataFrame:
    """Per-customer AP@K, Success@K, precision@K, recall@K, NDCG@K and R, for customers with R ≥ 1 only."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    s, r, o = _arrays(scores, relevance, owned)
    r = r & ~o
    n_relevant = r.sum(axis=1)
    keep = n_relevant > 0
    s, r, o, n_rel = s[keep], r[keep], o[keep], n_relevant[keep]
    top = top_k(s, k, o)
    hits = np.take_along_axis(r, top, axis=1) & ~np.take_along_axis(o, top, axis=1)
    if top.shape[1] < k:  # fewer items than K: the missing slots are misses
        hits = np.pad(hits, ((0, 0), (0, k - top.shape[1])))
    ranks = np.arange(1, k + 1)
    n_hits = hits.sum(axis=1)
    precision_at_i = np.cumsum(hits, axis=1) / ranks
    ideal = np.minimum(n_rel, k)
    discount = 1.0 / np.log2(ranks + 1)
    idcg = np.cumsum(discount)[ideal - 1]
    out = pd.DataFrame(
        {
            "ap": (precision_at_i * hits).sum(axis=1) / ideal,
            "success": (n_hits > 0).astype(float),
            "precision": n_hits / k,
            "recall": n_hits / n_rel,
            "ndcg": (hits * discount).sum(axis=1) / idcg,
            "n_relevant": n_rel,
        }
    )
    if isinstance(scores, pd.DataFrame):
        out.index = scores.index[keep]
    return out


def ranking_metrics(
    scores: Matrix, relevance: Matrix, owned: Matrix | None = None, k: int | Iterable[int] = 10
) -> dict[str, float]:
    """MAP@K, Success@K, precision@K, recall@K and NDCG@K (keys ``map_at_10`` …) and ``n_customers`` counted."""
    out: dict[str, float] = {}
    for cut in [k] if isinstance(k, int) else list(k):
        per = ranking_per_customer(scores, relevance, owned, cut)
        column = {"map": "ap"}
        for name in METRICS:
            out[f"{name}_at_{cut}"] = float(per[column.get(name, name)].mean()) if len(per) else float("nan")
        out["n_customers"] = float(len(per))
    return out


def bootstrap_ranking_ci(
    per_customer: pd.DataFrame, column: str, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of one ``ranking_per_customer`` column over customers."""
    values = per_customer[column].to_numpy(dtype=float)
    return bootstrap_interval(len(values), lambda idx: values[idx].mean(), n_boot=n_boot, level=level, seed=seed)
