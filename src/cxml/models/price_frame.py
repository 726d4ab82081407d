"""The price frame every price model reads: column roles, the family's options, and rows from demand cells or a
user's panel (pure: the files are read by ``cxml.datasets.price``).

Both sources give a price frame in the roles of :mod:`cxml.models.price` (heterogeneity columns, ``unit:``/
``time:``/``control:`` columns and ``log_price``) and a targets frame (``log_quantity``, ``weight``,
``true_elasticity``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from cxml.config import PipelineConfig
from cxml.features.demand import panel_demand
from cxml.models.demand import PRICE_FEATURE

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
