"""Demand cells for price models: contract-table order lines aggregated by cell and week, or a user's panel.

``order_cells`` joins ``orders`` to ``products`` (list price, unit cost) and to customer attributes, and sums the
lines of each cell (any of: order, product, customer or segment columns and the weekday/hour ``time_bucket``) and
week. Prices are reported three ways: ``price`` (mean shelf ``unit_price`` per unit), ``paid_price`` (after
``discount``) and ``log_price_index`` (unit-weighted mean of ``log(unit_price / list_price)``). Use the index as
the treatment when a cell spans several products: the mean price of a basket moves with its product mix, the
index only with prices.

Time buckets follow the simulated company's (``cxml.data.synthetic``): ``weekend`` (Saturday, Sunday),
``weekday_day`` (Monday-Friday before 17:00) and ``weekday_evening`` (from 17:00). Weeks are counted in whole
7-day steps from ``week_origin`` (default: the first ``valid_from`` of ``prices`` when that table is there, so
weeks line up with price changes, else the first order's day).

The segment is not a contract column: pass ``segments`` (``customer_id`` plus columns such as ``segment``), e.g.
the company's CRM segment or the output of the segments model. For the simulated company the latent segment of
``truth/customers`` stands in for a CRM segment.

``panel_demand`` validates a store × product × week (or any) panel brought by the user and returns it with
``log_quantity`` and ``log_price``; a bad table fails naming the column and the first offending rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

TIME_BUCKETS = ("weekday_day", "weekday_evening", "weekend")
EVENING_HOUR = 17


class DemandDataError(ValueError):
    """A demand table that cannot be used: names the column and the first offending rows."""


def _rows(mask: np.ndarray | pd.Series, index: pd.Index, k: int = 5) -> list[object]:
    return index[np.flatnonzero(np.asarray(mask))[:k]].tolist()


def _bucket(ts: pd.Series) -> pd.Categorical:
    stamps = pd.to_datetime(ts)
    weekend = stamps.dt.day_of_week.to_numpy() >= 5
    evening = stamps.dt.hour.to_numpy() >= EVENING_HOUR
    return pd.Categorical.from_codes(np.where(weekend, 2, evening.astype(np.int8)), categories=list(TIME_BUCKETS))


def time_bucket(ts: pd.Series) -> pd.Series:
    """``weekend``, ``weekday_day`` or ``weekday_evening`` for each timestamp."""
    return pd.Series(_bucket(ts), index=ts.index).astype("str")


def _origin(tables: Mapping[str, pd.DataFrame], ts: pd.Series, week_origin: str | pd.Timestamp | None) -> pd.Timestamp:
    if week_origin is not None:
        return pd.Timestamp(week_origin)
    prices = tables.get("prices")
    if prices is not None and len(prices) and "valid_from" in prices.columns:
        return pd.Timestamp(pd.to_datetime(prices["valid_from"]).min()).normalize()
    return pd.Timestamp(ts.min()).normalize()


def _lookup(keys: pd.Series, table: pd.DataFrame, key: str, columns: Sequence[str], what: str) -> pd.DataFrame:
    """Columns of ``table`` for each value of ``keys`` (a fast many-to-one join); unknown keys fail."""
    if table[key].duplicated().any():
        dup = table.loc[table[key].duplicated(), key].head(5).tolist()
        raise DemandDataError(f"{what}: {key} is not unique, e.g. {dup}")
    pos = pd.Index(table[key]).get_indexer(keys)
    missing = pos < 0
    if missing.any():
        raise DemandDataError(
            f"orders: {int(missing.sum())} lines have a {key} not found in {what}, "
            f"e.g. {keys[missing].head(5).tolist()} (rows {_rows(missing, keys.index)})"
        )
    return table[list(columns)].iloc[pos].set_axis(keys.index)


def order_cells(
    tables: Mapping[str, pd.DataFrame],
    *,
    by: Sequence[str] = ("segment", "channel", "time_bucket"),
    segments: pd.DataFrame | None = None,
    week_origin: str | pd.Timestamp | None = None,
    drop_returned: bool = False,
) -> pd.DataFrame:
    """Order lines summed per cell (``by``) and week, with prices, unit cost and demand controls.

    ``by`` may name order columns (``channel``, ``product_id``), product columns (``category``), ``time_bucket``,
    ``customers`` columns (``region``, ``preferred_channel``, ...) and columns of ``segments``. A cell-week with no
    order is absent (its log demand is undefined); coarser cells avoid gaps.
    """
    if "week" in by:
        raise DemandDataError("by must not name 'week': every cell is split by week already")
    for name in ("orders", "products"):
        if name not in tables:
            raise DemandDataError(f"order_cells needs the {name!r} table")
    orders = tables["orders"]
    need = ["order_id", "customer_id", "ts", "product_id", "quantity", "unit_price", "discount"]
    missing = [c for c in need if c not in orders.columns]
    if missing:
        raise DemandDataError(f"orders lacks the columns {missing}")
    if drop_returned and "returned" in orders.columns:
        orders = orders[~orders["returned"].astype(bool)]
    lines = pd.DataFrame(index=orders.index)
    products = tables["products"]
    prod_cols = [c for c in ("list_price", "unit_cost") if c in products.columns]
    if len(prod_cols) < 2:
        raise DemandDataError("products lacks list_price or unit_cost")
    extra_prod = [c for c in by if c in products.columns and c != "product_id"]
    joined = _lookup(orders["product_id"], products, "product_id", [*prod_cols, *extra_prod], "products")
    cust_cols = [c for c in by if c not in orders.columns and c not in extra_prod and c != "time_bucket"]
    sources = []
    if segments is not None:
        seg_cols = [c for c in cust_cols if c in segments.columns and c != "customer_id"]
        if seg_cols:
            sources.append(_lookup(orders["customer_id"], segments, "customer_id", seg_cols, "segments"))
            cust_cols = [c for c in cust_cols if c not in seg_cols]
    if cust_cols:
        customers = tables.get("customers")
        unknown = [c for c in cust_cols if customers is None or c not in customers.columns]
        if unknown:
            hint = " (the segment is not a contract column: pass segments=...)" if "segment" in unknown else ""
            raise DemandDataError(f"by names columns found in no table: {unknown}{hint}")
        assert customers is not None
        sources.append(_lookup(orders["customer_id"], customers, "customer_id", cust_cols, "customers"))
    for col in by:
        if col == "time_bucket":
            lines[col] = _bucket(orders["ts"])
        elif col in orders.columns:
            lines[col] = orders[col]
        elif col in joined.columns:
            lines[col] = joined[col]
        else:
            lines[col] = next(src[col] for src in sources if col in src.columns)
    qty = orders["quantity"].to_numpy(dtype=np.float64)
    unit = orders["unit_price"].to_numpy(dtype=np.float64)
    list_price = joined["list_price"].to_numpy(dtype=np.float64)
    bad = (qty <= 0) | (unit <= 0) | ~np.isfinite(unit)
    if bad.any():
        raise DemandDataError(
            f"orders: quantity and unit_price must be positive, {int(bad.sum())} lines are not, "
            f"e.g. rows {_rows(bad, orders.index)}"
        )
    ts = pd.to_datetime(orders["ts"])
    origin = _origin(tables, ts, week_origin)
    lines["week"] = ((ts - origin) // pd.Timedelta(days=7)).astype(np.int64)
    gross = unit * qty
    lines["quantity"] = qty
    lines["gross"] = gross
    lines["revenue"] = gross - orders["discount"].fillna(0.0).to_numpy(dtype=np.float64)
    lines["list_value"] = list_price * qty
    lines["cost_value"] = joined["unit_cost"].to_numpy(dtype=np.float64) * qty
    lines["log_rel"] = np.log(unit / list_price) * qty
    lines["log_paid_rel"] = np.log(np.maximum(lines["revenue"].to_numpy(), 1e-12) / qty / list_price) * qty
    lines["on_campaign"] = orders["campaign_id"].notna().to_numpy() if "campaign_id" in orders.columns else False
    lines["order_id"] = orders["order_id"]
    lines["customer_id"] = orders["customer_id"]
    keys = [*by, "week"]
    g = lines.groupby(keys, sort=True, observed=True)
    sums = g[["quantity", "gross", "revenue", "list_value", "cost_value", "log_rel", "log_paid_rel"]].sum()
    out = pd.DataFrame(index=sums.index)
    out["quantity"] = sums["quantity"]
    out["lines"] = g.size()
    out["orders"] = g["order_id"].nunique()
    out["customers"] = g["customer_id"].nunique()
    out["revenue"] = sums["revenue"]
    out["price"] = sums["gross"] / sums["quantity"]
    out["paid_price"] = sums["revenue"] / sums["quantity"]
    out["list_price"] = sums["list_value"] / sums["quantity"]
    out["unit_cost"] = sums["cost_value"] / sums["quantity"]
    out["log_price_index"] = sums["log_rel"] / sums["quantity"]
    out["log_paid_index"] = sums["log_paid_rel"] / sums["quantity"]
    out["discount_share"] = 1.0 - sums["revenue"] / sums["gross"]
    out["campaign_share"] = g["on_campaign"].mean()
    out = out.reset_index()
    if "time_bucket" in by:
        out["time_bucket"] = out["time_bucket"].astype("str")
    out.insert(len(by) + 1, "week_start", origin + pd.to_timedelta(out["week"] * 7, unit="D"))
    out["log_quantity"] = np.log(out["quantity"])
    out["log_orders"] = np.log(out["orders"])
    out["log_price"] = np.log(out["price"])
    return out


def _need(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DemandDataError(f"panel lacks the columns {missing}; it has {list(frame.columns)[:20]}")


def _positive(frame: pd.DataFrame, col: str) -> np.ndarray:
    values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~(values > 0) | ~np.isfinite(values)
    if bad.any():
        raise DemandDataError(
            f"column {col!r} must be positive and finite; {int(bad.sum())} rows are not, "
            f"e.g. rows {_rows(bad, frame.index)} (values {frame[col][bad].head(5).tolist()})"
        )
    return values


def panel_demand(
    frame: pd.DataFrame,
    *,
    price: str,
    quantity: str | None = None,
    log_quantity: str | None = None,
    group: Sequence[str] = (),
    time: str | None = None,
    controls: Sequence[str] = (),
) -> pd.DataFrame:
    """A user's panel (e.g. store × product × week) as a demand table: keys, controls, log quantity and log price.

    Give exactly one of ``quantity`` (units, > 0) and ``log_quantity`` (finite); ``price`` must be > 0. Group and
    time keys must not be missing; controls may (the nuisance trees handle missing values).
    """
    if (quantity is None) == (log_quantity is None):
        raise DemandDataError("give exactly one of quantity=... and log_quantity=...")
    group, controls = list(group), list(controls)
    keys = [*group, *([time] if time else [])]
    _need(frame, [price, quantity or log_quantity or "", *keys, *controls])
    for key in keys:
        lost = frame[key].isna().to_numpy()
        if lost.any():
            raise DemandDataError(f"key column {key!r} has missing values, e.g. rows {_rows(lost, frame.index)}")
    out = frame[[*keys, *[c for c in controls if c not in keys]]].copy()
    if quantity is not None:
        out["quantity"] = _positive(frame, quantity)
        out["log_quantity"] = np.log(out["quantity"])
    else:
        assert log_quantity is not None
        values = pd.to_numeric(frame[log_quantity], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(values)
        if bad.any():
            raise DemandDataError(
                f"column {log_quantity!r} must be a finite number; {int(bad.sum())} rows are not, "
                f"e.g. rows {_rows(bad, frame.index)}"
            )
        out["log_quantity"] = values
    out["price"] = _positive(frame, price)
    out["log_price"] = np.log(out["price"])
    return out.reset_index(drop=True)
