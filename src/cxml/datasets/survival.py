"""Survival rows: months until a lapse from the contract tables, or a table with duration and event columns."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from cxml.config import PipelineConfig, TrainRequest
from cxml.data.sources import read_flat_table
from cxml.datasets.family import Family
from cxml.datasets.tables import TableError, binary_target, file_name, require_options, table_features
from cxml.features.build import FEATURE_SET, build_features
from cxml.features.tenure import tenure_labels
from cxml.models.spec import Dataset
from cxml.models.survival import DEFAULT_HORIZONS, SPEC, options, survival_targets

log = logging.getLogger(__name__)


def survival_table_dataset(
    frame: pd.DataFrame,
    duration: str,
    event: str,
    *,
    name: str,
    source: str,
    id_column: str | None = None,
    drop: Sequence[str] = (),
    horizons: Sequence[float] = DEFAULT_HORIZONS,
    holdout_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[Dataset, list[str]]:
    """A flat table with a duration and an event column (yes/no, 1/0, true/false): seeded split by event."""

    wanted = [duration, event, *drop, *([id_column] if id_column else [])]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise TableError(f"columns not in the table: {missing}; it has {list(frame.columns)}")
    blank = frame[[duration, event]].isna().any(axis=1) | (frame[event].astype("str").str.strip() == "")
    notes = []
    if blank.any():
        notes.append(
            f"{int(blank.sum())} rows without {duration} or {event} dropped "
            f"(first rows {np.flatnonzero(blank)[:5].tolist()})"
        )
    kept = frame.loc[~blank]
    d = pd.to_numeric(kept[duration], errors="coerce")
    bad = (d.isna() | (d < 0)).to_numpy()
    if bad.any():
        raise TableError(
            f"duration column {duration!r} must be numbers >= 0; {int(bad.sum())} rows are not "
            f"(first rows {np.flatnonzero(~blank)[bad][:5].tolist()}: {kept[duration][bad].head(5).tolist()})"
        )
    e = binary_target(kept[event], event)
    if e.sum() == 0:
        raise TableError(f"event column {event!r} has no event (1/yes): nothing to learn a hazard from")
    X, coerced = table_features(kept, [duration, event, *drop], id_column)
    y = survival_targets(d.to_numpy(float), e, X.index, horizons)
    X_tr, X_ho, y_tr, y_ho = train_test_split(X, y, test_size=holdout_fraction, random_state=seed, stratify=e)
    return Dataset(name, source, X_tr, y_tr, X_ho, y_ho, feature_set=f"table:{name}"), notes + coerced


def _table_dataset(req: TrainRequest, cfg: PipelineConfig) -> tuple[Dataset, list[str]]:
    """``cxml train survival --table FILE --duration COL --event COL [--id COL] [--drop COL ...]``."""

    require_options(req, "table", "duration", "event")
    assert req.table is not None and req.duration is not None and req.event is not None
    opts = options(cfg)
    return survival_table_dataset(
        read_flat_table(req.table),
        req.duration,
        req.event,
        name=file_name(req.table),
        source=str(req.table),
        id_column=req.id_column,
        drop=req.drop,
        horizons=opts.horizons,
        holdout_fraction=opts.holdout_fraction,
        seed=cfg.tuning.seed,
    )


def survival_contract_dataset(
    tables: Mapping[str, pd.DataFrame], as_of: str | None, cfg: PipelineConfig, source: str
) -> Dataset:
    """Customers not lapsed at ``as_of``: features before it, months until the churn is detected after it
    (censored at the end of the data); customers split at random, stratified by event."""

    opts = options(cfg)
    labels = tenure_labels(tables["orders"], tables["customers"], as_of, lapse_days=opts.lapse_days)
    if labels["event"].nunique() < 2:
        raise ValueError(
            f"as of {as_of}: every active customer is {'churned' if labels['event'].all() else 'censored'}"
        )
    features = build_features(tables, as_of).reindex(labels.index)
    y = survival_targets(labels["duration"], labels["event"], labels.index, opts.horizons)
    X_tr, X_ho, y_tr, y_ho = train_test_split(
        features, y, test_size=opts.holdout_fraction, random_state=cfg.tuning.seed, stratify=y["event"]
    )
    tags = {"cxml.duration": f"months from as_of until {opts.lapse_days} days without a purchase"}
    return Dataset("company", source, X_tr, y_tr, X_ho, y_ho, feature_set=FEATURE_SET, as_of=str(as_of), tags=tags)


FAMILY = Family(SPEC, contract_dataset=survival_contract_dataset, table_dataset=_table_dataset)
