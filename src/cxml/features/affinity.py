"""Point-in-time cross-sell data: one row per (active customer, item) with affinity features, owned mask and label.

At ``as_of`` the look-back window is ``[as_of - lookback, as_of)`` and the horizon ``[as_of, as_of + horizon)``.
Customers are those with a purchase in the look-back; an item is *owned* when the customer bought it in the
look-back (owned pairs are neither recommended nor evaluated). The label is 1 when the customer buys the item in
the horizon. Every feature, including the item–item co-purchase matrix, is computed from look-back rows only,
so nothing at or after ``as_of`` changes a feature.

Pair features of customer c and item Y (A_j: the active customers owning j; O_c: the items c owns):
``copurchase_score`` Σ_{j ∈ O_c} cos(j, Y) with cos = |A_j ∩ A_Y| / sqrt(|A_j| |A_Y|); ``copurchase_max`` the
largest of those terms, its j the ``anchor_item``; ``conditional_max`` max_{j ∈ O_c} |A_j ∩ A_Y| / |A_j|;
``anchor_orders`` / ``anchor_recency_days`` c's orders of the anchor and days since the last; ``related_orders`` /
``related_recency_days`` the same over Y's ``n_related`` most similar items; ``group_orders`` / ``group_share`` /
``group_recency_days`` c's orders in Y's group (e.g. its category), their share of c's orders, days since the
last; ``item_popularity`` (``_recent``) the share of active customers who bought Y in the look-back (in its last
``recent_days``).

Two features read the customer's whole *history* before ``as_of`` (``history_days``; default: every row before
it), since a taste shows in more lines than the look-back holds: ``history_orders`` c's orders of Y before
``as_of`` (for a non-owned Y, orders from before the look-back), and ``taste_score`` the expected share of c's
next lines that are Y: c's share of history lines in Y's group, shrunk by ``TASTE_PRIOR_LINES`` lines towards
what customers with c's mix buy (c's shares times the group × group matrix of "customers buying in group j spend
this share in group g"), times Y's share of its group's lines (without groups, items stand for groups and the
second factor is 1). On the simulated company, where a line picks a category by the customer's affinity and then
a product by its popularity, that product is Y's expected share of c's purchases.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from cxml.features.build import build_features
from cxml.features.reasons import describe_value
from cxml.features.transactions import Level, contract_transactions

PAIR_FEATURES: tuple[str, ...] = (
    "copurchase_score",
    "copurchase_max",
    "conditional_max",
    "anchor_orders",
    "anchor_recency_days",
    "related_orders",
    "related_recency_days",
    "group_orders",
    "group_share",
    "group_recency_days",
    "item_popularity",
    "item_popularity_recent",
    "history_orders",
    "taste_score",
)
"""Per (customer, item) features; the ``group_*`` pair exists only when transactions carry an item group."""
RFM_FEATURES: tuple[str, ...] = (
    "recency_days",
    "orders_lookback",
    "items_lookback",
    "units_lookback",
    "spend_lookback",
    "first_purchase_days",
    "mean_gap_days",
)
"""Customer features derived from bring-your-own transactions (look-back rows only)."""
CONTEXT_COLUMNS: tuple[str, ...] = ("owned", "anchor_item", "item_group")
"""Columns of ``pairs`` that are not model features: the owned mask and the words reasons need."""
TASTE_PRIOR_LINES = 8.0
"""Lines of the neighbours' mix added to a customer's own history lines in ``taste_score`` (a Dirichlet prior).
Chosen among 2, 4, 8 and 16 by the MAP@10 of ``taste_score`` alone on the demo company's *training* customers
(bench/RESULTS.md, #18 demo grade); the held-out customers were not used."""

# How each cross-sell feature reads in a reason; {item}, {anchor_item} and {item_group} come from the row.
_PAIR_WORDS: dict[str, tuple[str, str]] = {
    # feature: (template with {value}, words when zero or missing)
    "copurchase_score": ("buys items often bought with {item} (co-purchase score {value:.2f})", "no co-purchases"),
    "copurchase_max": ("buyers of {anchor_item} often buy {item} (similarity {value:.2f})", "no co-purchases"),
    "conditional_max": (
        "{value:.0%} of buyers of one of their items also bought {item}",
        "no buyer of their items bought {item}",
    ),
    "anchor_orders": ("bought {anchor_item} {count}", "no related purchases"),
    "anchor_recency_days": ("last bought {anchor_item} {days} ago", "no related purchases"),
    "related_orders": ("{orders} with items often bought with {item}", "no orders of related items"),
    "related_recency_days": ("last bought an item related to {item} {days} ago", "no orders of related items"),
    "group_orders": ("bought from {item_group} {count}", "nothing bought from {item_group}"),
    "group_share": ("{value:.0%} of their orders include {item_group}", "nothing bought from {item_group}"),
    "group_recency_days": ("last bought from {item_group} {days} ago", "nothing bought from {item_group}"),
    "item_popularity": ("{item} is bought by {value:.0%} of active customers", "{item} is rarely bought"),
    "item_popularity_recent": ("{item} is bought by {value:.0%} of customers lately", "{item} not bought lately"),
    "history_orders": ("bought {item} {count} before", "never bought {item} before"),
    "taste_score": ("{value:.1%} of what they buy is expected to be {item}", "no taste for {item} yet"),
    "orders_lookback": ("{orders} recently", "no recent orders"),
    "items_lookback": ("bought {value:,.0f} different items recently", "no recent purchases"),
    "units_lookback": ("bought {value:,.0f} units recently", "no recent purchases"),
    "spend_lookback": ("spent {value:,.2f} recently", "nothing spent recently"),
    "first_purchase_days": ("first purchase in the window {days} ago", "no purchases yet"),
}


@dataclass(frozen=True)
class CrossSellData:
    """Pairs of one ``as_of``: features and context columns (``pairs``) and labels, customer-major order."""

    pairs: pd.DataFrame
    """Indexed by (customer_id, item); customer features, ``PAIR_FEATURES`` and ``CONTEXT_COLUMNS``."""
    labels: pd.Series | None
    """1 when the customer buys the item in the horizon (int8, aligned with ``pairs``); None without a horizon."""
    similarity: pd.DataFrame
    """Item × item cosine similarity of buyers in the look-back (diagonal 0)."""
    as_of: pd.Timestamp
    lookback_days: float
    horizon_days: float | None

    @property
    def customers(self) -> pd.Index:
        return self.pairs.index.get_level_values(0).unique()

    @property
    def items(self) -> pd.Index:
        return self.similarity.index

    def matrix(self, values: pd.Series | np.ndarray) -> pd.DataFrame:
        """A per-pair column or array (in ``pairs`` order) as a customers × items frame."""
        arr = np.asarray(values).reshape(len(self.customers), len(self.items))
        return pd.DataFrame(arr, index=self.customers, columns=self.items)

    @property
    def owned(self) -> pd.DataFrame:
        return self.matrix(self.pairs["owned"])

    @property
    def relevance(self) -> pd.DataFrame:
        if self.labels is None:
            raise ValueError("these pairs have no labels (built without a horizon)")
        return self.matrix(self.labels)

    def subset(self, customers: Sequence[str] | pd.Index) -> CrossSellData:
        """The same pairs for some customers only (same item universe and features)."""
        keep = self.pairs.index.get_level_values(0).isin(pd.Index(customers))
        labels = None if self.labels is None else self.labels[keep]
        return CrossSellData(
            self.pairs[keep], labels, self.similarity, self.as_of, self.lookback_days, self.horizon_days
        )


def rfm_features(transactions: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Recency, frequency and monetary value per customer from the rows given (callers pass the look-back)."""
    tx = transactions
    days = (as_of - tx["ts"]) / pd.Timedelta(days=1)
    g = tx.assign(days=days, value=tx["quantity"] * tx["price"]).groupby("customer_id")
    invoices = tx.groupby(["customer_id", "invoice"])["ts"].min().groupby("customer_id")
    span = (invoices.max() - invoices.min()) / pd.Timedelta(days=1)
    n_orders = invoices.size()
    out = pd.DataFrame(
        {
            "recency_days": g["days"].min(),
            "orders_lookback": n_orders,
            "items_lookback": g["item"].nunique(),
            "units_lookback": g["quantity"].sum(),
            "spend_lookback": g["value"].sum(min_count=1),
            "first_purchase_days": g["days"].max(),
            "mean_gap_days": (span / (n_orders - 1)).where(n_orders > 1),
        }
    )
    return out.astype("float64")


def _check_window(tx: pd.DataFrame, as_of: pd.Timestamp, horizon_days: float | None) -> None:
    if not pd.api.types.is_datetime64_any_dtype(tx["ts"]):
        raise ValueError("transactions.ts must be datetimes: pass them through normalise_transactions first")
    if horizon_days is None or tx.empty:
        return
    data_end = tx["ts"].max().normalize() + pd.Timedelta(days=1)
    end = as_of + pd.Timedelta(days=horizon_days)
    if end > data_end:
        raise ValueError(
            f"as_of {as_of} + horizon {horizon_days} days = {end} runs past the end of the data ({data_end}): "
            "the labels would be censored; choose an earlier as_of or a shorter horizon"
        )


def build_cross_sell(
    transactions: pd.DataFrame,
    as_of: str | pd.Timestamp,
    *,
    lookback_days: float,
    horizon_days: float | None = None,
    customer_features: pd.DataFrame | None = None,
    items: Sequence[str] | None = None,
    min_item_buyers: int = 1,
    n_related: int = 5,
    recent_days: float = 14.0,
    history_days: float | None = None,
) -> CrossSellData:
    """Cross-sell pairs at ``as_of`` from standard transactions (``cxml.features.transactions``).

    ``items`` fixes the item universe (e.g. the one a model was trained on); otherwise it is every item with at
    least ``min_item_buyers`` distinct buyers in the look-back. ``customer_features`` (indexed by customer_id,
    e.g. ``build_features``) are joined; without them RFM features are derived from the look-back rows. Related
    items of Y are its ``n_related`` most similar items; ``horizon_days=None`` builds unlabelled pairs for scoring.
    ``history_days`` bounds the history ``history_orders`` and ``taste_score`` read (None: every row before as_of).
    """
    as_of = pd.Timestamp(as_of)
    _check_window(transactions, as_of, horizon_days)
    ts = transactions["ts"]
    lookback = transactions.loc[(ts >= as_of - pd.Timedelta(days=lookback_days)) & (ts < as_of)]
    customers = pd.Index(np.sort(lookback["customer_id"].unique()), name="customer_id")
    if customers.empty:
        raise ValueError(f"no purchases in the {lookback_days}-day look-back before {as_of}")
    if items is None:
        buyers = lookback.groupby("item")["customer_id"].nunique()
        items = buyers.index[buyers >= min_item_buyers]
    universe = pd.Index(np.sort(np.asarray(items, dtype=object)).astype("str"), name="item")
    if universe.empty:
        raise ValueError(f"no item has {min_item_buyers} or more buyers in the look-back before {as_of}")
    orders, recency = _pair_history(lookback, customers, universe, as_of)
    owned = orders > 0
    similarity = _cosine(owned)
    features = _affinity(owned, orders, recency, similarity, n_related)
    features["item_popularity"] = np.broadcast_to(owned.mean(axis=0), owned.shape)
    recent = lookback.loc[lookback["ts"] >= as_of - pd.Timedelta(days=recent_days)]
    recent_orders, _ = _pair_history(recent, customers, universe, as_of)
    features["item_popularity_recent"] = np.broadcast_to((recent_orders > 0).mean(axis=0), owned.shape)
    groups = _item_groups(lookback, universe)
    if groups.notna().any():
        features.update(_group_history(lookback, customers, groups, as_of))
    since = ts >= as_of - pd.Timedelta(days=history_days) if history_days is not None else True
    history = transactions.loc[since & (ts < as_of)]
    features["history_orders"], _ = _pair_history(history, customers, universe, as_of)
    features["taste_score"] = _taste(history, customers, universe, groups)
    if customer_features is None:
        customer_features = rfm_features(lookback, as_of)
    pairs = _pairs_frame(customer_features.reindex(customers), universe, features, owned, groups)
    labels = None
    if horizon_days is not None:
        horizon = transactions.loc[(ts >= as_of) & (ts < as_of + pd.Timedelta(days=horizon_days))]
        bought, _ = _pair_history(horizon, customers, universe, as_of)
        labels = pd.Series((bought > 0).ravel().astype("int8"), index=pairs.index, name="label")
    sim = pd.DataFrame(similarity, index=universe, columns=universe)
    return CrossSellData(pairs, labels, sim, as_of, float(lookback_days), horizon_days)


def _pairs_frame(
    customer_features: pd.DataFrame,
    items: pd.Index,
    features: dict[str, np.ndarray],
    owned: np.ndarray,
    groups: pd.Series,
) -> pd.DataFrame:
    """Customer-major rows: customer features repeated per item, pair features flattened, context columns."""
    n_c, n_i = len(customer_features), len(items)
    index = pd.MultiIndex.from_product([customer_features.index, items], names=["customer_id", "item"])
    columns = {c: np.repeat(customer_features[c].to_numpy(), n_i) for c in customer_features.columns}
    columns.update({k: np.asarray(v, dtype="float64").ravel() for k, v in features.items() if k in PAIR_FEATURES})
    anchor = np.asarray(items, dtype=object)[np.maximum(features["anchor"], 0)]
    columns["owned"] = owned.ravel()
    columns["anchor_item"] = np.asarray(np.where(features["anchor"] >= 0, anchor, None)).ravel()
    columns["item_group"] = np.tile(groups.to_numpy(dtype=object), n_c)
    pairs = pd.DataFrame(columns, index=index)
    return pairs.astype({"anchor_item": "str", "item_group": "str"})


def cross_sell_from_tables(
    tables: Mapping[str, pd.DataFrame],
    as_of: str | pd.Timestamp,
    *,
    level: Level = "category",
    lookback_days: float = 180.0,
    horizon_days: float | None = 90.0,
    **kwargs: object,
) -> CrossSellData:
    """Cross-sell pairs from the cxml contract tables, with the customer-360 features joined."""

    transactions = contract_transactions(tables, level)
    customer360 = build_features(tables, as_of)
    return build_cross_sell(
        transactions,
        as_of,
        lookback_days=lookback_days,
        horizon_days=horizon_days,
        customer_features=customer360,
        **kwargs,  # type: ignore[arg-type]
    )


def _pair_history(
    tx: pd.DataFrame, customers: pd.Index, items: pd.Index, as_of: pd.Timestamp
) -> tuple[np.ndarray, np.ndarray]:
    """Orders (distinct invoices) and days since the last purchase per customer × item (NaN: never)."""
    n_orders = np.zeros((len(customers), len(items)))
    days = np.full((len(customers), len(items)), np.nan)
    if tx.empty:
        return n_orders, days
    rows = customers.get_indexer(tx["customer_id"])
    cols = items.get_indexer(tx["item"])
    keep = (rows >= 0) & (cols >= 0)
    frame = pd.DataFrame(
        {"r": rows[keep], "c": cols[keep], "invoice": tx["invoice"].to_numpy()[keep], "ts": tx["ts"].to_numpy()[keep]}
    )
    g = frame.groupby(["r", "c"])
    count, last = g["invoice"].nunique(), g["ts"].max()
    r, c = count.index.get_level_values(0), count.index.get_level_values(1)
    n_orders[r, c] = count.to_numpy()
    days[r, c] = ((as_of - last) / pd.Timedelta(days=1)).to_numpy()
    return n_orders, days


def _cosine(owned: np.ndarray) -> np.ndarray:
    """Cosine similarity of item buyer sets: |A ∩ B| / sqrt(|A| |B|), diagonal 0."""
    o = sparse.csr_matrix(owned.astype("float64"))
    co = np.asarray((o.T @ o).todense())
    norm = np.sqrt(np.diag(co))
    with np.errstate(divide="ignore", invalid="ignore"):
        sim = np.where(np.outer(norm, norm) > 0, co / np.outer(norm, norm), 0.0)
    np.fill_diagonal(sim, 0.0)
    return sim


def _conditional(owned: np.ndarray) -> np.ndarray:
    """P(buys Y | bought j) = |A_j ∩ A_Y| / |A_j| in row j, column Y; diagonal 0."""
    o = sparse.csr_matrix(owned.astype("float64"))
    co = np.asarray((o.T @ o).todense())
    n = np.diag(co).copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(n[:, None] > 0, co / n[:, None], 0.0)
    np.fill_diagonal(out, 0.0)
    return out


def _strongest(owned: np.ndarray, sim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per customer × item Y: max over owned items j of sim[j, Y], and that j (-1 when no owned j has sim > 0).

    Works on the owned items' rows of ``sim`` in blocks of customers (memory: owned pairs × items per block).
    """
    n_c, n_i = owned.shape
    best = np.zeros((n_c, n_i))
    anchor = np.full((n_c, n_i), -1)
    o = sparse.csr_matrix(owned)
    for start in range(0, n_c, 4096):  # the strongest owned item per pair, from the owned items' rows of sim
        block = o[start : start + 4096]
        counts = np.diff(block.indptr)
        if block.nnz == 0:
            continue
        values = sim[block.indices]  # (owned pairs in block) × items
        starts = block.indptr[:-1][counts > 0]
        who = start + np.flatnonzero(counts > 0)
        top = np.maximum.reduceat(values, starts, axis=0)
        at_top = values == np.repeat(top, counts[counts > 0], axis=0)
        first = np.minimum.reduceat(np.where(at_top, np.arange(block.nnz)[:, None], block.nnz), starts, axis=0)
        best[who] = top
        anchor[who] = np.where(top > 0, block.indices[first], -1)
    return best, anchor


def _affinity(
    owned: np.ndarray, orders: np.ndarray, recency: np.ndarray, sim: np.ndarray, n_related: int
) -> dict[str, np.ndarray]:
    """Co-purchase score, strongest owned anchor item, and the history of each item's nearest neighbours."""
    n_c, n_i = owned.shape
    score = owned.astype("float64") @ sim
    best, anchor = _strongest(owned, sim)
    conditional, _ = _strongest(owned, _conditional(owned))
    rows_c = np.arange(n_c)[:, None]
    has = anchor >= 0
    a = np.maximum(anchor, 0)
    neighbours = np.argsort(-sim, axis=0, kind="stable")[: min(n_related, n_i), :]  # (k, items)
    linked = np.take_along_axis(sim, neighbours, axis=0) > 0
    rel_orders = np.zeros((n_c, n_i))
    rel_days = np.full((n_c, n_i), np.inf)
    for k in range(neighbours.shape[0]):
        cols = neighbours[k]
        rel_orders += np.where(linked[k], orders[:, cols], 0.0)
        rel_days = np.fmin(rel_days, np.where(linked[k], recency[:, cols], np.nan))
    return {
        "copurchase_score": score,
        "copurchase_max": best,
        "conditional_max": conditional,
        "anchor": anchor,
        "anchor_orders": np.where(has, orders[rows_c, a], 0.0),
        "anchor_recency_days": np.where(has, recency[rows_c, a], np.nan),
        "related_orders": rel_orders,
        "related_recency_days": np.where(np.isinf(rel_days), np.nan, rel_days),
    }


def _line_counts(tx: pd.DataFrame, customers: pd.Index, keys: pd.Index, column: str) -> np.ndarray:
    """Lines (rows) per customer × key of ``column`` (an item or a group), zero where none."""
    rows, cols = customers.get_indexer(tx["customer_id"]), keys.get_indexer(tx[column])
    keep = (rows >= 0) & (cols >= 0)
    counts = sparse.coo_matrix((np.ones(int(keep.sum())), (rows[keep], cols[keep])), shape=(len(customers), len(keys)))
    return np.asarray(counts.todense())


def _taste(history: pd.DataFrame, customers: pd.Index, items: pd.Index, groups: pd.Series) -> np.ndarray:
    """Expected share of the customer's next lines that are the item (module docstring), from history lines."""
    grouped = groups.notna().all()
    keys = pd.Index(np.sort(groups.unique())) if grouped else items
    lines = history.assign(group=history["item"].map(groups)) if grouped else history
    counts = _line_counts(lines, customers, keys, "group" if grouped else "item")
    if counts.sum() == 0:
        return np.zeros((len(customers), len(items)))
    total = counts.sum(axis=1, keepdims=True)
    own = np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)
    together = own.T @ own  # group j × group g: the share in g of customers, weighted by their share in j
    mix = np.divide(together, together.sum(axis=1, keepdims=True), out=np.zeros_like(together), where=together > 0)
    prior = own @ mix
    prior[total.ravel() == 0] = counts.sum(axis=0) / counts.sum()  # no history lines: the population's mix
    share = (counts + TASTE_PRIOR_LINES * prior) / (total + TASTE_PRIOR_LINES)
    if not grouped:
        return share
    column = keys.get_indexer(groups)
    item_lines = history["item"].value_counts().reindex(items, fill_value=0).to_numpy(dtype=float)
    group_lines = np.bincount(column, weights=item_lines, minlength=len(keys))
    within = np.divide(item_lines, group_lines[column], out=np.zeros(len(items)), where=group_lines[column] > 0)
    return share[:, column] * within


def _item_groups(tx: pd.DataFrame, items: pd.Index) -> pd.Series:
    """Each item's group (its most frequent one in the look-back), NaN when the transactions carry none."""
    known = tx.dropna(subset=["group"])
    if known.empty:
        return pd.Series(np.nan, index=items, dtype="str")
    return known.groupby("item")["group"].agg(lambda s: s.mode().iat[0]).reindex(items).astype("str")


def _group_history(
    tx: pd.DataFrame, customers: pd.Index, groups: pd.Series, as_of: pd.Timestamp
) -> dict[str, np.ndarray]:
    names = pd.Index(np.sort(groups.dropna().unique()))
    by_group = tx.dropna(subset=["group"]).assign(item=lambda f: f["group"])
    orders, days = _pair_history(by_group, customers, names, as_of)
    total = tx.groupby("customer_id")["invoice"].nunique().reindex(customers).to_numpy(dtype=float)
    col = names.get_indexer(groups)
    valid = col >= 0
    take = np.maximum(col, 0)
    return {
        "group_orders": np.where(valid, orders[:, take], np.nan),
        "group_share": np.where(valid, orders[:, take] / total[:, None], np.nan),
        "group_recency_days": np.where(valid, days[:, take], np.nan),
    }


def describe_pair(feature: str, row: Mapping[str, object], item_names: Mapping[str, str] | None = None) -> str:
    """A feature of one (customer, item) row in words ("bought printer ink 3 times").

    ``row`` holds the feature values and the context columns plus ``item``; ``item_names`` turns item ids into
    names. Customer-360 features are worded by the feature registry.
    """

    value = row.get(feature)
    if feature not in _PAIR_WORDS:
        return describe_value(feature, value)
    names = item_names or {}
    context = {k: str(row.get(k, "")) for k in ("item", "anchor_item", "item_group")}
    context = {k: names.get(v, v) for k, v in context.items()}
    template, empty = _PAIR_WORDS[feature]
    v = float(value) if value is not None else float("nan")  # type: ignore[arg-type]
    if np.isnan(v) or (v == 0 and not feature.endswith("_days")):
        return empty.format(**context)
    n = round(v)
    words = {
        "value": v,
        "count": f"{n} time" + ("" if n == 1 else "s"),
        "orders": f"{n} order" + ("" if n == 1 else "s"),
        "days": "under a day" if n == 0 else f"{n} day" + ("" if n == 1 else "s"),
    }
    return template.format(**context, **words)
