"""Uplift rows: one randomised campaign of the contract tables, or an experiment a user brings as a table."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from cxml.config import PipelineConfig, TrainRequest, UpliftConfig
from cxml.data.sources import read_flat_table
from cxml.datasets.family import Family
from cxml.datasets.tables import TableError, file_name, require_options, table_features
from cxml.features.build import FEATURE_SET, build_features
from cxml.features.labels import campaign_outcomes
from cxml.models.spec import Dataset
from cxml.models.uplift import CONTROL, SPEC, strata

log = logging.getLogger(__name__)


def latest_campaign(tables: Mapping[str, pd.DataFrame], window_days: int) -> str:
    """The most recent campaign whose response window ends before the last order."""
    sent = tables["exposures"].groupby("campaign_id")["sent_at"].max()
    fits = sent[sent + pd.Timedelta(days=window_days) <= tables["orders"]["ts"].max()]
    if fits.empty:
        raise ValueError(f"no campaign has a complete {window_days}-day response window in the data")
    return str(fits.idxmax())


def uplift_dataset(tables: Mapping[str, pd.DataFrame], cfg: UpliftConfig, *, source: str, seed: int = 0) -> Dataset:
    """One randomised campaign: features as of the day of its first send, outcome and arm after each send.

    Targets are a frame (``outcome``, ``arm``); the holdout is a seeded split stratified by arm and outcome.
    """

    campaign = cfg.campaign or latest_campaign(tables, cfg.window_days)
    targets = campaign_outcomes(tables, campaign, cfg.window_days, cfg.outcome)
    if CONTROL not in set(targets["arm"]):
        raise ValueError(f"campaign {campaign} has no {CONTROL!r} arm: {sorted(set(targets['arm']))}")
    as_of = targets["sent_at"].min().normalize()
    features = build_features(tables, as_of).reindex(targets.index)
    y = targets[["outcome", "arm"]]
    X_tr, X_ho, y_tr, y_ho = train_test_split(
        features, y, test_size=cfg.holdout_fraction, random_state=seed, stratify=strata(y)
    )
    log.info(
        "uplift dataset: campaign %s, %d exposures (features as of %s), arms %s",
        campaign,
        len(y),
        as_of.date(),
        dict(y["arm"].value_counts().sort_index()),
    )
    return Dataset(
        f"company-{campaign}",
        source,
        X_tr,
        y_tr,
        X_ho,
        y_ho,
        feature_set=FEATURE_SET,
        as_of=str(as_of.date()),
        tags={
            "cxml.campaign": campaign,
            "cxml.outcome": f"{cfg.outcome} within {cfg.window_days} days",
            "cxml.control_rate": str(float(y_tr.loc[y_tr["arm"] == CONTROL, "outcome"].mean())),
        },
    )


def uplift_table_dataset(
    frame: pd.DataFrame,
    target: str,
    treatment: str,
    control: str,
    *,
    name: str,
    source: str,
    id_column: str | None = None,
    drop: Sequence[str] = (),
    holdout_fraction: float = 0.3,
    seed: int = 0,
) -> tuple[Dataset, list[str]]:
    """A randomised experiment as a flat table: features, the arm column (``control`` is the control value) and
    the outcome (binary, or an amount such as spend). Seeded split stratified by arm and response."""

    missing = [c for c in (target, treatment, *drop, *([id_column] if id_column else [])) if c not in frame.columns]
    if missing:
        raise TableError(f"columns not in the table: {missing}; it has {list(frame.columns)}")
    arms = frame[treatment].astype(str).str.strip()
    if control not in set(arms):
        raise TableError(f"--control {control!r} is not a value of {treatment!r}: {sorted(set(arms))[:10]}")
    outcome = pd.to_numeric(frame[target], errors="coerce")
    bad = outcome.isna()
    if bad.any():
        raise TableError(
            f"target column {target!r} must be numeric (0/1 or an amount); {int(bad.sum())} rows are not "
            f"(first rows {np.flatnonzero(bad)[:5].tolist()})"
        )
    X, notes = table_features(frame, [target, treatment, *drop], id_column)
    y = pd.DataFrame({"outcome": outcome.to_numpy(float), "arm": arms.replace(control, CONTROL).to_numpy()}, X.index)
    X_tr, X_ho, y_tr, y_ho = train_test_split(X, y, test_size=holdout_fraction, random_state=seed, stratify=strata(y))
    return Dataset(name, source, X_tr, y_tr, X_ho, y_ho, feature_set=f"table:{name}"), notes


def uplift_request_dataset(req: TrainRequest, cfg: PipelineConfig) -> tuple[Dataset, list[str]]:
    """``cxml train uplift --table FILE --target COL --treatment COL --control VALUE``: an experiment's table."""

    require_options(req, "table", "target", "treatment", "control")
    assert req.table is not None and req.target and req.treatment and req.control
    return uplift_table_dataset(
        read_flat_table(req.table),
        req.target,
        req.treatment,
        req.control,
        name=file_name(req.table),
        source=str(req.table),
        id_column=req.id_column,
        drop=req.drop,
        holdout_fraction=cfg.uplift.holdout_fraction,
        seed=cfg.tuning.seed,
    )


def uplift_contract_dataset(
    tables: Mapping[str, pd.DataFrame], as_of: str | None, cfg: PipelineConfig, source: str
) -> Dataset:
    return uplift_dataset(tables, cfg.uplift, source=source, seed=cfg.tuning.seed)


FAMILY = Family(
    SPEC,
    contract_dataset=uplift_contract_dataset,
    table_dataset=uplift_request_dataset,
    table_cv_folds=None,
    as_of="rejected",
    as_of_reason="features are taken as of the campaign's first send and responses in the window after each send; "
    "choose the campaign with options in pipelines/uplift.yaml (uplift.campaign)",
)
