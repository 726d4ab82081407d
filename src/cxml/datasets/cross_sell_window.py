"""What a cross-sell run on a transaction file needs and the file does not say, chosen from the data itself.

``cxml train cross_sell --transactions FILE`` must decide four things a hand-made study would pick by eye; each
rule below reads only the file, is written to the run (MLflow params ``data.<name>`` and ``data.<name>_why``, and
the ``--json`` output), and yields to a flag (or the pipeline's ``options:``):

* **item filter** (``--item-filter``): when at least ``PRODUCT_CODE_SHARE`` of the distinct item ids contain a
  digit, the ids without one are fees and manual lines, not products (Online Retail: POST, M, DOT, BANK CHARGES,
  AMAZONFEE), and are left out; catalogues whose ids are words keep every item.
* **horizon** (``--horizon-days``): the 75th percentile of the gap between a repeat customer's orders, rounded up
  to whole weeks, kept within [7 days, half the file's span]: three in four repeat purchases come back within it.
* **as_of** (``--as-of``): the latest day whose horizon still holds at least half as many *returning buyers*
  (customers who bought both before it and in the horizon) as the best day does, and at least
  ``MIN_RETURNING``. Latest keeps the model close to the present and the look-back long; the floor steps back
  past a horizon emptied by a closure (a holiday) or the end of the file.
* **minimum buyers** (``--min-buyers``): an item enters the universe with at least ``BUYER_SHARE`` of the
  look-back's customers among its buyers (at least ``MIN_BUYERS``). Rarer items have too few co-purchases for a
  similarity and too few horizon buyers for a propensity: a handful of positives among hundreds of customers.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

PRODUCT_CODE_SHARE = 0.9
"""Share of distinct item ids with a digit above which ids without one are read as non-product codes."""
BUYER_SHARE = 0.02
MIN_BUYERS = 5
MIN_RETURNING = 30
RETURNING_SHARE = 0.5
NO_FILTER = ("none", "all")
"""``--item-filter`` values that keep every item."""


@dataclass(frozen=True)
class Choice:
    """One decision: its value, whether the data or the user made it, and why (in words, for the run)."""

    value: str
    by: str
    """``data`` (the rule in this module), ``flag`` (the command line) or ``pipeline`` (the YAML's options)."""
    why: str


@dataclass(frozen=True)
class WindowChoices:
    item_filter: Choice
    horizon_days: Choice
    as_of: Choice
    min_buyers: Choice

    def params(self) -> dict[str, str]:
        """Flat ``name``, ``name_by`` and ``name_why`` entries for the MLflow run and the ``--json`` output."""
        out: dict[str, str] = {}
        for name in ("item_filter", "horizon_days", "as_of", "min_buyers"):
            choice: Choice = getattr(self, name)
            out.update({name: choice.value, f"{name}_by": choice.by, f"{name}_why": choice.why})
        return out


def _given(flag: object, option: object) -> tuple[object, str] | None:
    if flag is not None:
        return flag, "flag"
    if option is not None:
        return option, "pipeline"
    return None


def choose_item_filter(items: pd.Series, flag: str | None = None, option: str | None = None) -> Choice:
    """The regex an item id must match to be a product (``""``: keep every item)."""
    given = _given(flag, option)
    if given is not None:
        value, by = str(given[0]), given[1]
        if value.lower() in NO_FILTER:
            return Choice("", by, "every item kept, as asked")
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"--item-filter {value!r} is not a regular expression: {exc}") from None
        return Choice(value, by, f"items whose id matches {value!r}, as asked")
    ids = pd.Series(items.dropna().astype("str").unique())
    if ids.empty:
        return Choice("", "data", "no item ids to judge")
    with_digit = ids.str.contains(r"\d")
    share = float(with_digit.mean())
    if share < PRODUCT_CODE_SHARE:
        return Choice(
            "", "data", f"{share:.0%} of {len(ids):,} item ids contain a digit (< {PRODUCT_CODE_SHARE:.0%}): ids are "
            "not codes, every item kept"
        )  # fmt: skip
    dropped = sorted(ids[~with_digit])
    shown = ", ".join(dropped[:8]) + (", …" if len(dropped) > 8 else "")
    return Choice(
        r"\d",
        "data",
        f"{share:.1%} of {len(ids):,} item ids contain a digit, so the {len(dropped)} without one are fees or manual "
        f"lines, not products: {shown or 'none'}",
    )


def choose_horizon(tx: pd.DataFrame, flag: float | None = None, option: float | None = None) -> Choice:
    """Label window in days from how often repeat customers come back (standard transactions)."""
    given = _given(flag, option)
    if given is not None:
        return Choice(f"{float(given[0]):g}", given[1], "as asked")  # type: ignore[arg-type]
    span = (tx["ts"].max() - tx["ts"].min()) / pd.Timedelta(days=1)
    orders = tx.groupby(["customer_id", "invoice"])["ts"].min().sort_values()
    gaps = orders.groupby(level="customer_id").diff().dropna() / pd.Timedelta(days=1)
    gaps = gaps[gaps > 0]
    ceiling = max(7.0, math.floor(span / 2))
    if gaps.empty:
        return Choice(f"{ceiling:g}", "data", f"no repeat orders: half the file's {span:.0f}-day span")
    p75 = float(np.percentile(gaps, 75))
    days = min(max(7.0 * math.ceil(p75 / 7), 7.0), ceiling)
    return Choice(
        f"{days:g}",
        "data",
        f"3 in 4 repeat orders come within {p75:.1f} days of the customer's previous one (of {len(gaps):,} gaps); "
        f"rounded up to whole weeks, within 7 days and half the {span:.0f}-day span",
    )


def returning_buyers(tx: pd.DataFrame, horizon_days: float) -> pd.Series:
    """Per candidate as_of (each day from a week after the first row to the last one the horizon fits): the
    customers who bought both before it and in its horizon."""
    day = tx["ts"].dt.normalize()
    end = day.max() + pd.Timedelta(days=1)
    horizon = pd.Timedelta(days=horizon_days)
    candidates = pd.date_range(day.min() + pd.Timedelta(days=7), end - horizon, freq="D")
    first = tx.groupby("customer_id")["ts"].min()
    counts = {}
    for as_of in candidates:
        inside = tx.loc[(tx["ts"] >= as_of) & (tx["ts"] < as_of + horizon), "customer_id"].unique()
        counts[as_of] = int((first.reindex(inside) < as_of).sum())
    return pd.Series(counts, dtype="int64", name="returning_buyers")


def choose_as_of(tx: pd.DataFrame, horizon_days: float, flag: str | None = None, option: str | None = None) -> Choice:
    """Start of the horizon: the latest day whose horizon holds enough returning buyers."""
    given = _given(flag, option)
    if given is not None:
        return Choice(str(pd.Timestamp(str(given[0])).date()), given[1], "as asked")
    counts = returning_buyers(tx, horizon_days)
    if counts.empty:
        span = (tx["ts"].max() - tx["ts"].min()) / pd.Timedelta(days=1)
        raise ValueError(
            f"the file spans {span:.0f} days: too short for a week of look-back and a {horizon_days:g}-day horizon "
            "(give a shorter --horizon-days)"
        )
    floor = max(MIN_RETURNING, RETURNING_SHARE * counts.max())
    enough = counts[counts >= floor]
    if enough.empty:
        best = counts.idxmax()
        return Choice(
            str(best.date()),
            "data",
            f"no day's {horizon_days:g}-day horizon holds {floor:.0f} returning buyers; the most is {counts.max()} "
            f"on {best.date()}",
        )
    as_of = enough.index.max()
    latest = counts.index.max()
    stepped = (
        ""
        if as_of == latest
        else f"; the {counts[latest]} of the latest possible day ({latest.date()}) are too few, so it steps back"
    )
    return Choice(
        str(as_of.date()),
        "data",
        f"the latest day whose {horizon_days:g}-day horizon holds {counts[as_of]} returning buyers (customers who "
        f"bought before and in it), at least half the most any day reaches ({counts.max()}) and ≥ {MIN_RETURNING}"
        + stepped,
    )


def choose_min_buyers(
    tx: pd.DataFrame, as_of: pd.Timestamp, lookback_days: float, flag: int | None = None, option: int | None = None
) -> Choice:
    """Distinct look-back buyers an item needs to be ranked."""
    given = _given(flag, option)
    if given is not None:
        return Choice(str(int(given[0])), given[1], "as asked")  # type: ignore[call-overload]
    lookback = tx.loc[(tx["ts"] >= as_of - pd.Timedelta(days=lookback_days)) & (tx["ts"] < as_of)]
    customers = lookback["customer_id"].nunique()
    buyers = lookback.groupby("item")["customer_id"].nunique()
    n = max(MIN_BUYERS, math.ceil(BUYER_SHARE * customers))
    return Choice(
        str(n),
        "data",
        f"{BUYER_SHARE:.0%} of the {customers:,} look-back customers (≥ {MIN_BUYERS}): {int((buyers >= n).sum()):,} "
        f"of {len(buyers):,} items qualify; the median item has {buyers.median():.0f} buyers",
    )
