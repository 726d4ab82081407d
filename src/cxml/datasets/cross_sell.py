"""Cross-sell rows: customer × item pairs from the contract tables or a transaction log, labelled after as_of."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from cxml.config import PipelineConfig, TrainRequest
from cxml.data.sources import read_flat_table
from cxml.datasets.cross_sell_window import (
    Choice,
    WindowChoices,
    choose_as_of,
    choose_horizon,
    choose_item_filter,
    choose_min_buyers,
)
from cxml.datasets.family import Family
from cxml.datasets.tables import file_name, require_options
from cxml.features.affinity import CrossSellData, build_cross_sell, cross_sell_from_tables
from cxml.features.build import FEATURE_SET
from cxml.features.transactions import normalise_transactions
from cxml.models.cross_sell import SPEC, CrossSellOptions, options
from cxml.models.spec import Dataset

log = logging.getLogger(__name__)


def pair_rows(data: CrossSellData) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Flat pair rows (``customer_id``, ``item`` columns) and their targets frame."""
    if data.labels is None:
        raise ValueError("cross-sell pairs need labels (build them with a horizon)")
    X = data.pairs.reset_index().astype({"owned": "bool"})
    y = pd.DataFrame(
        {
            "label": data.labels.to_numpy(dtype="int8"),
            "customer_id": X["customer_id"].to_numpy(),
            "item": X["item"].to_numpy(),
            "owned": X["owned"].to_numpy(),
        },
        index=X.index,
    )
    return X, y


def split_customers(
    X: pd.DataFrame, y: pd.DataFrame, fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A seeded share of customers (with all their pairs) held out: (X_train, X_holdout, y_train, y_holdout)."""
    customers = np.sort(X["customer_id"].astype("str").unique())
    n_out = round(fraction * len(customers))
    if n_out < 1 or n_out >= len(customers):
        raise ValueError(f"{len(customers)} customers cannot be split {1 - fraction:.0%} / {fraction:.0%}")
    held = set(np.random.default_rng(seed).permutation(customers)[:n_out])
    out = X["customer_id"].astype("str").isin(held).to_numpy()
    for name, rows in (("training", ~out), ("holdout", out)):
        if y.loc[rows & ~y["owned"].to_numpy(), "label"].sum() == 0:
            raise ValueError(f"no {name} customer buys a new item in the horizon: nothing to learn or rank")
    return X.loc[~out], X.loc[out], y.loc[~out], y.loc[out]


def _dataset(data: CrossSellData, opts: CrossSellOptions, seed: int, **kwargs: Any) -> Dataset:

    X, y = pair_rows(data)
    X_tr, X_ho, y_tr, y_ho = split_customers(X, y, opts.holdout_fraction, seed)
    tags = {
        "cxml.cross_sell_items": str(len(data.items)),
        "cxml.cross_sell_customers": str(len(data.customers)),
        "cxml.lookback_days": f"{data.lookback_days:g}",
        "cxml.horizon_days": f"{data.horizon_days:g}",
    }
    return Dataset(X_train=X_tr, y_train=y_tr, X_holdout=X_ho, y_holdout=y_ho, tags=tags, **kwargs)


CONTRACT_MIN_BUYERS = 20
"""Contract tables: distinct look-back buyers an item needs unless ``min_item_buyers`` says otherwise."""


def contract_dataset(tables: Mapping[str, pd.DataFrame], as_of: str | None, cfg: PipelineConfig, source: str) -> Any:
    """Pairs at ``as_of`` from the contract tables (customer-360 + affinity features), customers split."""

    opts = options(cfg)
    data = cross_sell_from_tables(
        tables,
        as_of,
        level=opts.level,
        lookback_days=opts.lookback_days or 180.0,
        horizon_days=opts.horizon_days or 90.0,
        min_item_buyers=opts.min_item_buyers or CONTRACT_MIN_BUYERS,
        history_days=opts.history_days,
    )
    feature_set = f"affinity:{opts.level}+{FEATURE_SET}"
    return _dataset(data, opts, cfg.tuning.seed, name="company", source=source, feature_set=feature_set, as_of=as_of)


QUANTITY_NAMES = ("quantity", "qty", "units")


INVOICE_NAMES = ("invoiceno", "invoice_no", "invoice", "invoice_id", "order_id", "orderid")


def _named_like(frame: pd.DataFrame, names: tuple[str, ...], flag: str, notes: list[str]) -> str | None:
    """The column whose lower-cased name is one of ``names`` (so returns are recognised without the flag), noted."""
    found = [c for c in frame.columns if str(c).lower() in names]
    if not found:
        return None
    notes.append(f"column {found[0]!r} read as {flag.removeprefix('--')} (give {flag} to choose another)")
    return str(found[0])


def read_transactions(req: TrainRequest, opts: CrossSellOptions) -> tuple[pd.DataFrame, list[str], Choice]:
    """The user's line items as kept purchases (products only, by the item filter), what cleaning removed (in
    words, for the log) and the item filter chosen."""

    require_options(req, "transactions", "customer", "item", "time")
    assert req.transactions and req.customer and req.item and req.time
    frame = read_flat_table(req.transactions)
    notes = []
    if req.item not in frame.columns:
        raise ValueError(f"column {req.item!r} (--item) not in {req.transactions}: {list(frame.columns)}")
    item_filter = choose_item_filter(frame[req.item], req.item_filter, opts.item_pattern)
    if item_filter.value:
        keep = frame[req.item].astype("str").str.contains(re.compile(item_filter.value)).fillna(False)
        notes.append(f"{int((~keep).sum()):,} rows whose item does not match {item_filter.value!r} left out")
        frame = frame.loc[keep.to_numpy(dtype=bool)]
    quantity = req.quantity or _named_like(frame, QUANTITY_NAMES, "--quantity", notes)
    invoice = req.invoice or opts.invoice_column or _named_like(frame, INVOICE_NAMES, "--invoice", notes)
    tx, cleaning = normalise_transactions(
        frame,
        customer=req.customer,
        item=req.item,
        time=req.time,
        quantity=quantity,
        invoice=invoice,
        price=req.price,
        group=opts.group_column,
    )
    notes.append(f"{cleaning.dropped_no_customer:,} rows without a customer dropped")
    notes.append(cleaning.summary())
    return tx, notes, item_filter


def table_dataset(req: TrainRequest, cfg: PipelineConfig) -> tuple[Any, list[str]]:
    """``cxml train cross_sell --transactions FILE --customer COL --item COL --time COL [--quantity COL]``.

    The item filter, horizon, ``as_of`` and minimum buyers per item come from the data
    (:mod:`cxml.datasets.cross_sell_window`) unless a flag or the pipeline's options give them; the look-back is
    ``lookback_days`` (90) before ``as_of``. Each choice and its reason is logged and written to the run.
    """

    opts = options(cfg)
    tx, notes, item_filter = read_transactions(req, opts)
    if tx.empty:
        raise ValueError(f"{req.transactions}: no purchase rows left after cleaning ({notes[-1]})")
    lookback = opts.lookback_days or 90.0
    horizon = choose_horizon(tx, req.horizon_days, opts.horizon_days)
    as_of = choose_as_of(tx, float(horizon.value), req.as_of, opts.as_of)
    min_buyers = choose_min_buyers(tx, pd.Timestamp(as_of.value), lookback, req.min_buyers, opts.min_item_buyers)
    choices = WindowChoices(item_filter, horizon, as_of, min_buyers)
    for name, choice in vars(choices).items():
        notes.append(f"{name} {choice.value or 'none'} ({choice.by}: {choice.why})")
    data = build_cross_sell(
        tx,
        as_of.value,
        lookback_days=lookback,
        horizon_days=float(horizon.value),
        min_item_buyers=int(min_buyers.value),
        history_days=opts.history_days,
    )
    notes.append(
        f"as_of {as_of.value}: {len(data.customers):,} customers × {len(data.items):,} items "
        f"(≥ {min_buyers.value} look-back buyers), horizon {horizon.value} days"
    )
    name = file_name(req.transactions)  # type: ignore[arg-type]
    dataset = _dataset(
        data,
        opts,
        cfg.tuning.seed,
        name=name,
        source=str(req.transactions),
        feature_set=f"affinity:{name}",
        as_of=as_of.value,
        params=choices.params(),
    )
    return dataset, notes


def serving_rows(
    tables: Mapping[str, pd.DataFrame], as_of: pd.Timestamp, model: Any, cfg: PipelineConfig
) -> pd.DataFrame:
    """Unlabelled pairs of every active customer × the champion's items at the snapshot date (flat: with
    ``customer_id`` and ``item`` columns), for the cross-sell endpoints."""

    opts = options(cfg)
    data = cross_sell_from_tables(
        tables,
        as_of,
        level=opts.level,
        lookback_days=opts.lookback_days or 180.0,
        horizon_days=None,
        items=list(model.items_),
        history_days=opts.history_days,
    )
    return data.pairs.reset_index()


def item_catalogue(tables: Mapping[str, pd.DataFrame], cfg: PipelineConfig) -> dict[str, Any]:
    """Names and unit margins of the cross-sell items (products or categories) for the endpoint and next best
    action: a product's margin is list price − unit cost; a category's the mean over its products."""
    products = tables["products"]
    margin = (products["list_price"] - products["unit_cost"]).astype(float)
    if options(cfg).level == "category":
        by_category = margin.groupby(products["category"].astype("str")).mean()
        return {"item_names": {c: c for c in by_category.index}, "item_margins": by_category.round(4).to_dict()}
    ids = products["product_id"].astype("str")
    names = dict(zip(ids, ids + " (" + products["category"].astype("str") + ")", strict=True))
    return {"item_names": names, "item_margins": dict(zip(ids, margin.round(4), strict=True))}


FAMILY = Family(
    SPEC,
    contract_dataset=contract_dataset,
    table_dataset=table_dataset,
    table_cv_folds=None,
    table_as_of=True,
    serving_rows=serving_rows,
    serving_metadata=item_catalogue,
)
