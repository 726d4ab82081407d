"""CLV rows: RFM summaries of the contract orders or a transaction log, with the holdout value after as_of."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from cxml.config import PipelineConfig, TrainRequest
from cxml.data.sources import read_flat_table
from cxml.datasets.family import Family
from cxml.datasets.tables import TableError, file_name, require_options
from cxml.features.build import FEATURE_SET
from cxml.features.rfm_data import clv_contract_rows, clv_rows, clv_scoring_rows, parse_times
from cxml.models.clv import SPEC, ClvOptions, holdout_horizon, options, repeat_strata
from cxml.models.spec import Dataset

log = logging.getLogger(__name__)


def _split(X: pd.DataFrame, y: pd.DataFrame, fraction: float, seed: int) -> tuple[Any, Any, Any, Any]:
    strata = repeat_strata(y)
    stratify = strata if np.bincount(strata, minlength=2).min() >= 2 else None
    return train_test_split(X, y, test_size=fraction, random_state=seed, stratify=stratify)


def _table_dataset(req: TrainRequest, cfg: PipelineConfig) -> tuple[Dataset, list[str]]:
    """``cxml train clv --transactions FILE --customer COL --time COL --value COL --calibration-end DATE``.

    The holdout runs from the day after the calibration end to the last transaction in the file.
    """

    require_options(req, "transactions", "customer", "time", "value", "calibration_end")
    assert req.transactions and req.customer and req.time and req.value and req.calibration_end
    opts = options(cfg)
    frame = read_flat_table(req.transactions)
    if frame.shape[1] == 1 and len(str(frame.columns[0]).split()) > 1:
        raise TableError(
            f"{req.transactions} has one column {frame.columns[0]!r}: it looks whitespace-separated; "
            "save it as CSV (comma-separated) or Parquet"
        )
    if req.time not in frame.columns:
        raise TableError(f"columns not in the table: {[req.time]}; it has {list(frame.columns)}")
    try:
        times = parse_times(frame[req.time], req.time)
        cal_end = pd.Timestamp(req.calibration_end)
        X, y, notes = clv_rows(
            frame.assign(**{req.time: times}),
            customer=req.customer,
            time=req.time,
            value=req.value,
            calibration_end=cal_end,
            observation_end=times.max(),
            period_days=opts.period_days,
        )
    except ValueError as exc:
        raise TableError(str(exc)) from None
    name = file_name(req.transactions)
    X_tr, X_ho, y_tr, y_ho = _split(X, y, opts.holdout_fraction, cfg.tuning.seed)
    tags = _tags(y, opts, cal_end, times.max())
    data = Dataset(name, str(req.transactions), X_tr, y_tr, X_ho, y_ho, f"rfm:{name}", str(cal_end.date()), tags)
    return data, notes


def clv_contract_dataset(
    tables: Mapping[str, pd.DataFrame], as_of: str | None, cfg: PipelineConfig, source: str
) -> Dataset:
    """Customers with a kept order before ``as_of``: calibration features before it, value in the
    ``horizon_days`` after it; customers split at random, stratified by whether they buy again."""

    opts = options(cfg)
    X, y, _ = clv_contract_rows(tables, as_of, horizon_days=opts.horizon_days, period_days=opts.period_days)
    X_tr, X_ho, y_tr, y_ho = _split(X, y, opts.holdout_fraction, cfg.tuning.seed)
    as_of_ts = pd.Timestamp(as_of)
    tags = _tags(y, opts, as_of_ts - pd.Timedelta(days=1), as_of_ts + pd.Timedelta(days=opts.horizon_days - 1))
    return Dataset("company", source, X_tr, y_tr, X_ho, y_ho, f"rfm+{FEATURE_SET}", str(as_of_ts.date()), tags)


def serving_rows(
    tables: Mapping[str, pd.DataFrame], as_of: pd.Timestamp, model: Any, cfg: PipelineConfig
) -> pd.DataFrame:
    """Every customer's RFM and customer-360 features at the snapshot date, for the CLV endpoint."""

    rows = clv_scoring_rows(tables, as_of, period_days=options(cfg).period_days)
    return rows[list(model.feature_names_in_)]


def _tags(y: pd.DataFrame, opts: ClvOptions, cal_end: pd.Timestamp, holdout_end: pd.Timestamp) -> dict[str, str]:
    return {
        "cxml.clv_horizon": f"{holdout_horizon(y):g} periods of {opts.period_days:g} days",
        "cxml.calibration_end": str(cal_end.date()),
        "cxml.holdout_end": str(holdout_end.date()),
    }


FAMILY = Family(
    SPEC,
    contract_dataset=clv_contract_dataset,
    table_dataset=_table_dataset,
    table_cv_folds=None,
    serving_rows=serving_rows,
)
