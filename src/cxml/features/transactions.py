"""Purchases as one standard frame, from a company's own line items or from the cxml contract tables.

Standard columns: ``customer_id`` (str), ``item`` (str), ``ts`` (datetime64), ``quantity`` (float, > 0),
``invoice`` (str), ``price`` (float unit price, NaN when unknown) and ``group`` (str, the item's group such as a
product category, NaN when unknown). Every row is a kept purchase: returns and cancellations are taken out and
netted against the purchase they undo.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd

STANDARD_COLUMNS: tuple[str, ...] = ("customer_id", "item", "ts", "quantity", "invoice", "price", "group")
Level = Literal["product", "category"]


@dataclass(frozen=True)
class TransactionNotes:
    """What cleaning did, in counts, for the training log."""

    rows_in: int
    dropped_no_customer: int
    dropped_no_item: int
    dropped_zero_quantity: int
    returns: int
    """Return or cancellation rows (negative quantity, or an invoice id starting with "C"), all removed."""
    returns_matched: int
    """Of those, returns netted against an earlier purchase of the same customer and item."""
    units_netted: float
    purchases_removed: int
    """Purchase rows whose whole quantity was returned."""
    rows_out: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def summary(self) -> str:
        return (
            f"{self.rows_in:,} rows in; dropped {self.dropped_no_customer:,} without a customer, "
            f"{self.dropped_no_item:,} without an item, {self.dropped_zero_quantity:,} with zero quantity; "
            f"{self.returns:,} returns/cancellations removed, {self.returns_matched:,} of them netted against their "
            f"purchase ({self.units_netted:,.0f} units, {self.purchases_removed:,} purchase rows fully returned); "
            f"{self.rows_out:,} purchase rows out"
        )


def _require(frame: pd.DataFrame, columns: Mapping[str, str | None]) -> None:
    missing = [f"{role}={col!r}" for role, col in columns.items() if col is not None and col not in frame.columns]
    if missing:
        raise ValueError(f"transactions lack column(s) {', '.join(missing)}; columns present: {list(frame.columns)}")


def _ids(series: pd.Series) -> pd.Series:
    """Identifiers as text; whole floats (a CSV id column with blanks reads as float) lose their ``.0``."""
    if pd.api.types.is_float_dtype(series):
        whole = series.dropna()
        if np.all(np.mod(whole.to_numpy(), 1) == 0):
            return series.astype("Int64").astype("str").where(series.notna())
    text = series.astype("str").str.strip()
    return text.where(series.notna() & (text != ""))


def _times(series: pd.Series, column: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        ts = series
    else:
        ts = pd.to_datetime(series, errors="coerce", format="mixed")
        bad = ts.isna() & series.notna()
        if bad.any():
            rows = series[bad].head(5)
            raise ValueError(
                f"column {column!r}: {int(bad.sum())} value(s) are not times, e.g. rows "
                + ", ".join(f"{i}: {v!r}" for i, v in rows.items())
            )
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    if ts.isna().any():
        rows = list(ts.index[ts.isna()][:5])
        raise ValueError(f"column {column!r}: {int(ts.isna().sum())} missing time(s), e.g. rows {rows}")
    return ts.astype("datetime64[us]")


def _numbers(series: pd.Series, column: str) -> pd.Series:
    out = pd.to_numeric(series, errors="coerce").astype("float64")
    bad = out.isna() & series.notna()
    if bad.any():
        raise ValueError(f"column {column!r}: non-numeric values, e.g. rows {dict(series[bad].head(5))}")
    return out


def normalise_transactions(
    frame: pd.DataFrame,
    *,
    customer: str,
    item: str,
    time: str,
    quantity: str | None = None,
    invoice: str | None = None,
    price: str | None = None,
    group: str | None = None,
) -> tuple[pd.DataFrame, TransactionNotes]:
    """Bring-your-own line items → kept purchases in the standard columns, and counts of what was removed.

    A row is a return or cancellation when its quantity is negative or its invoice id starts with "C". Each
    return is netted against the same customer's most recent earlier purchases of the same item (a purchase
    whose whole quantity comes back disappears); a return with no earlier purchase in the data is only counted.
    Netting uses the return whenever it happened, as the contract's ``returned`` flag does. Rows without a
    customer or item, and rows with zero quantity, are dropped and counted. Without ``quantity`` every row counts
    one unit; without ``invoice`` a customer's rows at the same time form one invoice. The input is not modified.
    """
    _require(
        frame,
        {
            "customer": customer,
            "item": item,
            "time": time,
            "quantity": quantity,
            "invoice": invoice,
            "price": price,
            "group": group,
        },
    )
    rows_in = len(frame)
    out = pd.DataFrame(
        {
            "customer_id": _ids(frame[customer]),
            "item": _ids(frame[item]),
            "ts": _times(frame[time], time),
            "quantity": _numbers(frame[quantity], quantity) if quantity else 1.0,
            "invoice": _ids(frame[invoice]) if invoice else "",
            "price": _numbers(frame[price], price) if price else np.nan,
            "group": _ids(frame[group]) if group else pd.Series(np.nan, index=frame.index, dtype="str"),
        },
        index=frame.index,
    )
    no_customer = out["customer_id"].isna()
    no_item = out["item"].isna() & ~no_customer
    zero = (out["quantity"].fillna(0) == 0) & ~no_customer & ~no_item
    out = out.loc[~(no_customer | no_item | zero)]
    if invoice is None:
        out = out.assign(invoice=out["customer_id"] + "@" + out["ts"].astype("str"))
    out = out.assign(invoice=out["invoice"].fillna("").astype("str"), group=out["group"].astype("str"))
    is_return = (out["quantity"] < 0) | out["invoice"].str.startswith("C")
    purchases, netted = _net_returns(out.loc[~is_return], out.loc[is_return])
    purchases = purchases.sort_values(["ts", "customer_id", "item"], kind="stable").reset_index(drop=True)
    notes = TransactionNotes(
        rows_in=rows_in,
        dropped_no_customer=int(no_customer.sum()),
        dropped_no_item=int(no_item.sum()),
        dropped_zero_quantity=int(zero.sum()),
        returns=int(is_return.sum()),
        returns_matched=netted[0],
        units_netted=netted[1],
        purchases_removed=netted[2],
        rows_out=len(purchases),
    )
    return purchases[list(STANDARD_COLUMNS)], notes


def _net_returns(purchases: pd.DataFrame, returns: pd.DataFrame) -> tuple[pd.DataFrame, tuple[int, float, int]]:
    """Subtract each return from the latest earlier purchases of its customer and item (only those pairs loop)."""
    if returns.empty:
        return purchases, (0, 0.0, 0)
    qty = purchases["quantity"].to_numpy(dtype=float).copy()
    position = pd.Series(np.arange(len(purchases)), index=purchases.index)
    keys = ["customer_id", "item"]
    returned_pairs = pd.MultiIndex.from_frame(returns[keys])
    candidates = purchases.loc[pd.MultiIndex.from_frame(purchases[keys]).isin(returned_pairs)]
    by_pair = {k: g.sort_values("ts", kind="stable") for k, g in candidates.groupby(keys)}
    matched, units = 0, 0.0
    for row in returns.sort_values("ts", kind="stable").itertuples(index=False):
        bought = by_pair.get((row.customer_id, row.item))
        if bought is None:
            continue
        left = abs(float(row.quantity))
        earlier = bought.index[bought["ts"].to_numpy() <= np.datetime64(row.ts)]
        for idx in earlier[::-1]:
            pos = position[idx]
            take = min(left, qty[pos])
            qty[pos] -= take
            left -= take
            units += take
            if left <= 0:
                break
        matched += int(left < abs(float(row.quantity)))
    gone = qty <= 0
    kept = purchases.loc[~gone].assign(quantity=qty[~gone])
    return kept, (matched, units, int(gone.sum()))


def contract_transactions(tables: Mapping[str, pd.DataFrame], level: Level = "category") -> pd.DataFrame:
    """Kept order lines of the cxml contract as standard transactions, at the product or the category level.

    ``returned`` lines are left out (the contract flags a return on the line it undoes). At the product level
    ``group`` is the product's category; at the category level ``item`` is the category and ``group`` is empty.
    """
    if level not in ("product", "category"):
        raise ValueError(f"level must be 'product' or 'category', got {level!r}")
    orders, products = tables["orders"], tables["products"]
    kept = orders.loc[~orders["returned"].astype(bool)]
    category = kept["product_id"].map(products.set_index("product_id")["category"])
    unknown = category.isna()
    if unknown.any():
        raise ValueError(
            f"orders.product_id: {int(unknown.sum())} line(s) name a product missing from products, e.g. "
            f"{kept.loc[unknown, 'product_id'].head(5).tolist()}"
        )
    out = pd.DataFrame(
        {
            "customer_id": kept["customer_id"].astype("str"),
            "item": kept["product_id"].astype("str") if level == "product" else category.astype("str"),
            "ts": kept["ts"].astype("datetime64[us]"),
            "quantity": kept["quantity"].astype("float64"),
            "invoice": kept["order_id"].astype("str"),
            "price": kept["unit_price"].astype("float64"),
            "group": category.astype("str") if level == "product" else pd.Series(np.nan, index=kept.index, dtype="str"),
        }
    )
    return out.sort_values(["ts", "customer_id", "item"], kind="stable").reset_index(drop=True)
