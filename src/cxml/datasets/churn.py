"""Churn rows: out-of-time snapshots of the contract tables, or a flat table a user brings."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from cxml.config import LabelConfig, PipelineConfig, TrainRequest
from cxml.data.sources import read_flat_table, read_tables
from cxml.datasets.family import Family
from cxml.datasets.tables import file_name, require_options, table_dataset
from cxml.features.build import FEATURE_SET, build_features
from cxml.features.labels import churn_labels
from cxml.models.churn import SPEC
from cxml.models.spec import Dataset

log = logging.getLogger(__name__)


def churn_snapshot(
    tables: Mapping[str, pd.DataFrame] | Path, as_of: pd.Timestamp, label: LabelConfig
) -> tuple[pd.DataFrame, np.ndarray]:
    """Point-in-time features at ``as_of`` for the active customers, and their churn labels after it."""

    frames = read_tables(tables, ["orders", "customers"]) if isinstance(tables, Path) else tables
    labels = churn_labels(frames["orders"], frames["customers"], as_of, label.horizon_days, label.active_window_days)
    features = build_features(tables, as_of)
    features = features.loc[features.index.isin(labels.index)]
    return features, labels.reindex(features.index).to_numpy(dtype=int)


def churn_dataset(
    tables: Mapping[str, pd.DataFrame] | Path, as_of: str | pd.Timestamp, label: LabelConfig, *, source: str
) -> Dataset:
    """Out-of-time split: train on the snapshot one horizon before ``as_of`` (its labels end at ``as_of``),
    hold out the snapshot at ``as_of``. Nothing at or after ``as_of`` reaches training."""

    as_of = pd.Timestamp(as_of)
    train_as_of = as_of - pd.Timedelta(days=label.horizon_days)
    X_tr, y_tr = churn_snapshot(tables, train_as_of, label)
    X_ho, y_ho = churn_snapshot(tables, as_of, label)
    log.info(
        "churn dataset: %d train rows (as of %s), %d holdout rows (as of %s)",
        len(X_tr),
        train_as_of.date(),
        len(X_ho),
        as_of.date(),
    )
    return Dataset("company", source, X_tr, y_tr, X_ho, y_ho, feature_set=FEATURE_SET, as_of=str(as_of.date()))


def churn_request_dataset(req: TrainRequest, cfg: PipelineConfig) -> tuple[Dataset, list[str]]:
    """``cxml train churn --table FILE --target COL``: a stratified split of the user's flat table."""

    require_options(req, "table", "target")
    assert req.table is not None and req.target is not None
    return table_dataset(
        read_flat_table(req.table),
        req.target,
        name=file_name(req.table),
        source=str(req.table),
        id_column=req.id_column,
        drop=req.drop,
        seed=cfg.tuning.seed,
    )


def churn_contract_dataset(
    tables: Mapping[str, pd.DataFrame], as_of: str | None, cfg: PipelineConfig, source: str
) -> Dataset:
    return churn_dataset(tables, as_of, cfg.label, source=source)


FAMILY = Family(SPEC, contract_dataset=churn_contract_dataset, table_dataset=churn_request_dataset)
