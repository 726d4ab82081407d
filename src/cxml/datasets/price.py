"""Price rows for training: demand cells of the contract tables, or a panel the user brings (``cxml train price``).

Both give a price frame in the roles of :mod:`cxml.models.price` (heterogeneity columns, ``unit:``/``time:``/
``control:`` columns and ``log_price``) and a targets frame (``log_quantity``, ``weight``, ``true_elasticity``),
split at random into training and holdout rows (seeded; every period keeps rows on both sides).

The segment is not a contract column. ``options.segments`` says where it comes from: ``truth`` (the simulated
company's latent segment, ``<data>/truth/customers.parquet``, standing in for a CRM segment), a file with
``customer_id`` and ``segment`` columns, or null (no segment: leave it out of ``cells``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.model_selection import train_test_split

from cxml.config import PipelineConfig, TrainRequest
from cxml.data.sources import read_flat_table, read_truth
from cxml.datasets.family import Family
from cxml.datasets.tables import TableError, file_name, require_options
from cxml.features.demand import DemandDataError, order_cells
from cxml.models.price import SPEC
from cxml.models.price_frame import POOLED, PriceOptions, cell_rows, options, panel_rows
from cxml.models.spec import Dataset


def company_segments(
    tables: Mapping[str, pd.DataFrame], opts: PriceOptions, source: str | Path | None
) -> pd.DataFrame | None:
    """The customer → segment table named by ``opts.segments`` (a ``segments`` table passed in wins)."""

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


def _split(X: pd.DataFrame, y: pd.DataFrame, fraction: float, seed: int) -> tuple[Any, Any, Any, Any]:
    return train_test_split(X, y, test_size=fraction, random_state=seed)


def contract_dataset(
    tables: Mapping[str, pd.DataFrame], as_of: str | None, cfg: PipelineConfig, source: str
) -> Dataset:
    """Segment × channel × time bucket × week cells of the orders before ``as_of`` (all orders without it)."""

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


def table_dataset(req: TrainRequest, cfg: PipelineConfig) -> tuple[Dataset, list[str]]:
    """``cxml train price --table FILE --quantity COL|--log-quantity COL --price COL [--group ...] [--time COL]
    [--controls ...]``: a seeded random holdout of the panel's rows."""

    require_options(req, "table", "price")
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


FAMILY = Family(
    SPEC,
    contract_dataset=contract_dataset,
    table_dataset=table_dataset,
    table_cv_folds=None,
    as_of="cutoff",
    as_of_reason="only orders strictly before it form the demand cells; the holdout is a random share of cell-weeks",
)
