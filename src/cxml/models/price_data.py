"""Price rows for training: demand cells of the contract tables, or a panel the user brings (``cxml train price``).

Both give a price frame in the roles of :mod:`cxml.models.price` (heterogeneity columns, ``unit:``/``time:``/
``control:`` columns and ``log_price``) and a targets frame (``log_quantity``, ``weight``, ``true_elasticity``),
split at random into training and holdout rows (seeded; every period keeps rows on both sides).

The segment is not a contract column. ``options.segments`` says where it comes from: ``truth`` (the simulated
company's latent segment, ``<data>/truth/customers.parquet``, standing in for a CRM segment), a file with
``customer_id`` and ``segment`` columns, or null (no segment: leave it out of ``cells``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.model_selection import train_test_split

from cxml.models.demand import PRICE_FEATURE

if TYPE_CHECKING:
    from cxml.config import PipelineConfig, TrainRequest
    from cxml.models.spec import Dataset

UNIT, TIME, CONTROL = "unit:", "time:", "control:"
"""Role prefixes of price-frame columns (see :mod:`cxml.models.price`)."""
POOLED = "pooled"
"""The one heterogeneity column of a panel brought without ``--group``: one elasticity for every row."""


class PriceOptions(BaseModel):
    """``options:`` of ``pipelines/price.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    segments: str | None = Field("truth", description="'truth', a customer_id/segment file, or null")
    cells: tuple[str, ...] = Field(("segment", "channel", "time_bucket"), description="heterogeneity of the cells")
    price_units: tuple[str, ...] = Field(("channel",), description="cells columns the price moves along by week")
    holdout_fraction: float = Field(0.2, gt=0, lt=1, description="cell-weeks (or panel rows) held out")
    lookback_weeks: int = Field(8, gt=0, description="recommendations: current volume = mean of these weeks")
    guardrails: dict[str, Any] = Field(
        default_factory=dict, description="cxml.decision.pricing.PricingGuardrails (max_change, min_margin, ...)"
    )


def options(cfg: PipelineConfig) -> PriceOptions:
    return PriceOptions.model_validate(cfg.options)


def company_segments(
    tables: Mapping[str, pd.DataFrame], opts: PriceOptions, source: str | Path | None
) -> pd.DataFrame | None:
    """The customer → segment table named by ``opts.segments`` (a ``segments`` table passed in wins)."""
    from cxml.data.sources import read_flat_table, read_truth

    if "segments" in tables:
        return tables["segments"][["customer_id", "segment"]]
    if opts.segments is None:
        return None
    if opts.segments == "truth":
        truth = read_truth(Path(source)) if source is not None else {}
        if "customers" not in truth:
            raise ValueError(
                f"options.segments is 'truth' but {source} has no truth/customers table; give a file with "
                "customer_id and segment columns, or null with 'segment' left out of options.cells"
            )
        return truth["customers"][["customer_id", "segment"]]
    frame = read_flat_table(Path(opts.segments))
    missing = [c for c in ("customer_id", "segment") if c not in frame.columns]
    if missing:
        raise ValueError(f"{opts.segments} (options.segments) lacks the columns {missing}")
    return frame[["customer_id", "segment"]].astype({"customer_id": "str", "segment": "str"})


def cell_rows(
    cells: pd.DataFrame, opts: PriceOptions, truth: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``order_cells`` output → price frame (treatment: the log price index) and targets.

    Cells are weighted by their mean weekly orders (a cell of 2 orders a week tells less than one of 200).
    """
    keys = list(opts.cells)
    X = pd.DataFrame({(UNIT + c if c in opts.price_units else c): cells[c].astype("str") for c in keys})
    X[TIME + "week"] = cells["week"].to_numpy(np.int64)
    X[PRICE_FEATURE] = cells["log_price_index"].to_numpy(np.float64)
    y = pd.DataFrame(
        {
            "log_quantity": cells["log_quantity"].to_numpy(np.float64),
            "weight": cells.groupby(keys)["orders"].transform("mean").to_numpy(np.float64),
            "true_elasticity": np.nan,
        },
        index=X.index,
    )
    if truth is not None and set(keys) <= set(truth.columns):
        known = truth.set_index(keys)["elasticity"]
        y["true_elasticity"] = known.reindex(pd.MultiIndex.from_frame(cells[keys].astype("str"))).to_numpy()
    return X, y


def _split(X: pd.DataFrame, y: pd.DataFrame, fraction: float, seed: int) -> tuple[Any, Any, Any, Any]:
    return train_test_split(X, y, test_size=fraction, random_state=seed)


def contract_dataset(
    tables: Mapping[str, pd.DataFrame], as_of: str | None, cfg: PipelineConfig, source: str
) -> Dataset:
    """Segment × channel × time bucket × week cells of the orders before ``as_of`` (all orders without it)."""
    from cxml.data.sources import read_truth
    from cxml.features.demand import order_cells
    from cxml.models.spec import Dataset

    opts = options(cfg)
    orders = tables["orders"]
    if as_of is not None:
        orders = orders[orders["ts"] < pd.Timestamp(as_of)]
    segments = company_segments(tables, opts, source) if "segment" in opts.cells else None
    cells = order_cells({**tables, "orders": orders}, by=opts.cells, segments=segments)
    truth = read_truth(Path(source)).get("elasticities")
    X, y = cell_rows(cells, opts, truth)
    X_tr, X_ho, y_tr, y_ho = _split(X, y, opts.holdout_fraction, cfg.tuning.seed)
    tags = {
        "cxml.price_cells": ",".join(opts.cells),
        "cxml.price_treatment": "log price index vs list (unit-weighted)",
        "cxml.price_truth": "elasticities" if y["true_elasticity"].notna().any() else "none",
    }
    as_of_text = str(pd.Timestamp(as_of).date()) if as_of else None
    return Dataset("company", source, X_tr, y_tr, X_ho, y_ho, "demand_cells:" + "x".join(opts.cells), as_of_text, tags)


def panel_rows(
    frame: pd.DataFrame,
    *,
    price: str,
    quantity: str | None = None,
    log_quantity: str | None = None,
    group: Sequence[str] = (),
    time: str | None = None,
    controls: Sequence[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A user's panel → price frame (``--group`` heterogeneity, ``--time``, ``--controls``) and targets."""
    from cxml.features.demand import panel_demand

    group, controls = list(group), [c for c in controls if c not in group and c != time]
    clash = [c for c in [*group, *controls, *([time] if time else [])] if c == PRICE_FEATURE or ":" in c]
    if clash:
        raise ValueError(f"columns {clash}: rename them (the name {PRICE_FEATURE!r} and ':' are reserved)")
    panel = panel_demand(
        frame, price=price, quantity=quantity, log_quantity=log_quantity, group=group, time=time, controls=controls
    )
    X = pd.DataFrame(index=panel.index)
    for c in group:
        X[c] = panel[c]
    if not group:
        X[POOLED] = POOLED
    if time:
        X[TIME + time] = panel[time]
    for c in controls:
        X[CONTROL + c] = panel[c]
    X[PRICE_FEATURE] = panel["log_price"].to_numpy(np.float64)
    y = pd.DataFrame({"log_quantity": panel["log_quantity"].to_numpy(np.float64)}, index=X.index)
    return X, y


def table_dataset(req: TrainRequest, cfg: PipelineConfig) -> tuple[Dataset, list[str]]:
    """``cxml train price --table FILE --quantity COL|--log-quantity COL --price COL [--group ...] [--time COL]
    [--controls ...]``: a seeded random holdout of the panel's rows."""
    from cxml.data.sources import read_flat_table
    from cxml.datasets import TableError, _required, file_name
    from cxml.features.demand import DemandDataError
    from cxml.models.spec import Dataset

    _required(req, "table", "price")
    assert req.table is not None and req.price is not None
    if (req.quantity is None) == (req.log_quantity is None):
        raise TableError("price on --table needs exactly one of --quantity COL and --log-quantity COL")
    frame = read_flat_table(req.table)
    try:
        X, y = panel_rows(
            frame,
            price=req.price,
            quantity=req.quantity,
            log_quantity=req.log_quantity,
            group=req.group,
            time=req.time,
            controls=req.controls,
        )
    except DemandDataError as exc:
        raise TableError(f"{req.table}: {exc}") from None
    except ValueError as exc:
        raise TableError(f"{req.table}: {exc}") from None
    notes = [] if req.group else ["no --group: one pooled elasticity for every row"]
    name = file_name(req.table)
    X_tr, X_ho, y_tr, y_ho = _split(X, y, options(cfg).holdout_fraction, cfg.tuning.seed)
    tags = {"cxml.price_groups": ",".join(req.group) or POOLED, "cxml.price_column": req.price}
    return Dataset(name, str(req.table), X_tr, y_tr, X_ho, y_ho, f"panel:{name}", None, tags), notes
