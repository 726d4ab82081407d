"""Turn the company's contract tables, or a flat table a user brings, into a training ``Dataset``."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from cxml.config import TrainRequest
from cxml.datasets.personal_data import identifier_by_name, personal_data_columns
from cxml.models.spec import Dataset

log = logging.getLogger(__name__)

POSITIVE_TOKENS = {"1", "yes", "true", "y", "t", "churn", "churned", "exited", "left"}
NEGATIVE_TOKENS = {"0", "no", "false", "n", "f", "stayed", "retained", "active"}


class TableError(ValueError):
    """A user table that cannot be trained on; the message names the column and rows."""


def binary_target(series: pd.Series, column: str) -> np.ndarray:
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
    y = binary_target(kept[target], target)
    X, coerced = table_features(kept, [target, *drop], id_column)
    return X, y, notes + coerced


def table_features(frame: pd.DataFrame, drop: Sequence[str], id_column: str | None) -> tuple[pd.DataFrame, list[str]]:
    """The feature columns of a flat table (numbers in text coerced, identifiers and personal data left out, with
    notes), indexed by ``id_column``. Personal data (``cxml.datasets.personal_data``: by name or content, at any
    size) are found before the identifier rules, which keep their notes."""
    X = frame.drop(columns=[*drop, *([id_column] if id_column else [])])
    if id_column:
        personal_id = personal_data_columns(frame[[id_column]])
        if personal_id:
            raise TableError(
                f"--id {id_column} holds personal data ({personal_id[id_column]}); the ids travel with the holdout "
                f"into MLflow, so give a customer number as --id (and --drop {id_column})"
            )
        X.index = frame[id_column].astype(str).to_numpy()
    X, notes = _coerce_numeric_text(X)
    identifiers = _identifier_columns(X)
    personal = personal_data_columns(X)
    for col in X.columns:
        col = str(col)
        if col in personal:
            also = f"; also {identifiers[col]}" if col in identifiers else ""
            notes.append(
                f"{col}: left out as personal data ({personal[col]}{also}), not a feature; it never reaches the "
                "model or MLflow (give --drop to say so and silence this)"
            )
        elif col in identifiers:
            notes.append(
                f"{col}: left out, {identifiers[col]}: an identifier or personal data (a name, an e-mail), not a "
                "feature; it never reaches the model or MLflow (give --drop or --id to say so and silence this)"
            )
    return X.drop(columns=[c for c in X.columns if str(c) in identifiers or str(c) in personal]), notes


MIN_ROWS_FOR_IDENTIFIERS = 50
TEXT_IDENTIFIER_SHARE = 0.2


def _identifier_columns(X: pd.DataFrame) -> dict[str, str]:
    """Columns that identify rows rather than describe them: integers all distinct (RowNumber, CustomerId), text
    with more distinct values than a fifth of the rows (Surname: 2,932 in 10,000; an e-mail: all), or a column
    named like a row or customer number (RowNumber and CustomerId repeat in a resample with replacement)."""
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
            continue
        by_name = identifier_by_name(col, s)
        if by_name is not None:
            found[str(col)] = by_name
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


def file_name(path: Path) -> str:
    """A registry-safe name for a file the user brings (models register as ``cxml.<family>.<name>``)."""
    return re.sub(r"[^a-z0-9]+", "_", path.stem.lower()).strip("_")


_METAVARS = {"table": "FILE", "transactions": "FILE", "control": "VALUE", "calibration_end": "DATE"}


def require_options(req: TrainRequest, *options: str) -> None:
    missing = [f"--{o.replace('_', '-')} {_METAVARS.get(o, 'COL')}" for o in options if not getattr(req, o)]
    if missing:
        source = "--table" if req.table is not None else "--transactions"
        raise ValueError(f"{req.family} on {source} needs {' and '.join(missing)}")
