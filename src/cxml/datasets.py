"""Turn the company's contract tables, or a flat table a user brings, into a training ``Dataset``."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from cxml.config import LabelConfig, PipelineConfig, TrainRequest, UpliftConfig
from cxml.models.spec import Dataset

log = logging.getLogger(__name__)

POSITIVE_TOKENS = {"1", "yes", "true", "y", "t", "churn", "churned", "exited", "left"}
NEGATIVE_TOKENS = {"0", "no", "false", "n", "f", "stayed", "retained", "active"}


class TableError(ValueError):
    """A user table that cannot be trained on; the message names the column and rows."""


def _binary_target(series: pd.Series, column: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(series):
        return series.astype(int).to_numpy()
    tokens = series.astype(str).str.strip().str.lower()
    values = set(tokens.unique())
    if values <= POSITIVE_TOKENS | NEGATIVE_TOKENS and len(values) == 2:
        return tokens.isin(POSITIVE_TOKENS).astype(int).to_numpy()
    raise TableError(
        f"target column {column!r} must be binary (0/1, yes/no, true/false); found values {sorted(values)[:10]}"
    )


def _coerce_numeric_text(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Text columns that are numbers with a few blanks (e.g. Telco's TotalCharges) become floats, with a note."""
    out, notes = frame.copy(), []
    for col in frame.columns:
        s = frame[col]
        if not (pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s)):
            continue
        stripped = s.astype("str").str.strip().where(s.notna())
        blank = stripped.isna() | (stripped == "")
        parsed = pd.to_numeric(stripped.where(~blank), errors="coerce")
        bad = parsed.isna() & ~blank
        if blank.all() or bad.mean() > 0.01:
            continue
        out[col] = parsed.astype(float)
        if blank.any() or bad.any():
            rows = np.flatnonzero(blank | bad)[:5].tolist()
            notes.append(
                f"{col}: {int(blank.sum())} blank and {int(bad.sum())} non-numeric values coerced "
                f"to missing (first rows {rows})"
            )
    return out, notes


def prepare_table(
    frame: pd.DataFrame, target: str, *, id_column: str | None = None, drop: Sequence[str] = ()
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Features, binary target and warnings from a flat customer table (never mutates ``frame``)."""
    missing = [c for c in [target, *(drop or []), *([id_column] if id_column else [])] if c not in frame.columns]
    if missing:
        raise TableError(f"columns not in the table: {missing}; it has {list(frame.columns)}")
    unlabeled = frame[target].isna() | (frame[target].astype(str).str.strip() == "")
    notes = []
    if unlabeled.any():
        notes.append(
            f"{target}: {int(unlabeled.sum())} rows without a target dropped "
            f"(first rows {np.flatnonzero(unlabeled)[:5].tolist()})"
        )
    kept = frame.loc[~unlabeled]
    y = _binary_target(kept[target], target)
    X, coerced = table_features(kept, [target, *drop], id_column)
    return X, y, notes + coerced


def table_features(frame: pd.DataFrame, drop: Sequence[str], id_column: str | None) -> tuple[pd.DataFrame, list[str]]:
    """The feature columns of a flat table (numbers in text coerced, identifiers and names left out, with notes),
    indexed by ``id_column``."""
    X = frame.drop(columns=[*drop, *([id_column] if id_column else [])])
    if id_column:
        X.index = frame[id_column].astype(str).to_numpy()
    X, notes = _coerce_numeric_text(X)
    identifiers = _identifier_columns(X)
    for col, why in identifiers.items():
        notes.append(
            f"{col}: left out, {why}: an identifier or personal data (a name, an e-mail), not a feature; it never "
            "reaches the model or MLflow (give --drop or --id to say so and silence this)"
        )
    return X.drop(columns=list(identifiers)), notes


MIN_ROWS_FOR_IDENTIFIERS = 50
TEXT_IDENTIFIER_SHARE = 0.2


def _identifier_columns(X: pd.DataFrame) -> dict[str, str]:
    """Columns that identify rows rather than describe them: integers all distinct (RowNumber, CustomerId), or
    text with more distinct values than a fifth of the rows (Surname: 2,932 in 10,000; an e-mail: all)."""
    n = len(X)
    if n < MIN_ROWS_FOR_IDENTIFIERS:
        return {}
    found = {}
    for col in X.columns:
        s = X[col]
        distinct = int(s.nunique(dropna=True))
        if pd.api.types.is_integer_dtype(s) and distinct == n:
            found[str(col)] = f"{distinct:,} distinct integers in {n:,} rows"
            continue
        is_text = pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s)
        if is_text and distinct > n * TEXT_IDENTIFIER_SHARE:
            found[str(col)] = f"{distinct:,} distinct texts in {n:,} rows"
    return found


def table_dataset(
    frame: pd.DataFrame,
    target: str,
    *,
    name: str,
    source: str,
    id_column: str | None = None,
    drop: Sequence[str] = (),
    holdout_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[Dataset, list[str]]:
    """A stratified, seeded train/holdout split of a flat table."""
    X, y, notes = prepare_table(frame, target, id_column=id_column, drop=drop)
    X_tr, X_ho, y_tr, y_ho = train_test_split(X, y, test_size=holdout_fraction, random_state=seed, stratify=y)
    return Dataset(name, source, X_tr, y_tr, X_ho, y_ho, feature_set=f"table:{name}"), notes


def churn_snapshot(
    tables: Mapping[str, pd.DataFrame] | Path, as_of: pd.Timestamp, label: LabelConfig
) -> tuple[pd.DataFrame, np.ndarray]:
    """Point-in-time features at ``as_of`` for the active customers, and their churn labels after it."""
    from cxml.data.sources import read_tables
    from cxml.features.build import build_features
    from cxml.features.labels import churn_labels

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
    from cxml.features.build import FEATURE_SET

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
    from cxml.features.build import FEATURE_SET, build_features
    from cxml.features.labels import campaign_outcomes
    from cxml.models.uplift import CONTROL, strata

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
    from cxml.models.uplift import CONTROL, strata

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


def file_name(path: Path) -> str:
    """A registry-safe name for a file the user brings (models register as ``cxml.<family>.<name>``)."""
    return re.sub(r"[^a-z0-9]+", "_", path.stem.lower()).strip("_")


_METAVARS = {"table": "FILE", "transactions": "FILE", "control": "VALUE", "calibration_end": "DATE"}


def _required(req: TrainRequest, *options: str) -> None:
    missing = [f"--{o.replace('_', '-')} {_METAVARS.get(o, 'COL')}" for o in options if not getattr(req, o)]
    if missing:
        source = "--table" if req.table is not None else "--transactions"
        raise ValueError(f"{req.family} on {source} needs {' and '.join(missing)}")


def churn_request_dataset(req: TrainRequest, cfg: PipelineConfig) -> tuple[Dataset, list[str]]:
    """``cxml train churn --table FILE --target COL``: a stratified split of the user's flat table."""
    from cxml.data.sources import read_flat_table

    _required(req, "table", "target")
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
    if as_of is None:
        raise ValueError("no --as-of and none in the pipeline YAML")
    return churn_dataset(tables, as_of, cfg.label, source=source)


def uplift_request_dataset(req: TrainRequest, cfg: PipelineConfig) -> tuple[Dataset, list[str]]:
    """``cxml train uplift --table FILE --target COL --treatment COL --control VALUE``: an experiment's table."""
    from cxml.data.sources import read_flat_table

    _required(req, "table", "target", "treatment", "control")
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
