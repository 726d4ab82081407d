"""What the endpoints do, without HTTP: check a request, find the features, score, explain (churn here; the
shared request handling is ``SnapshotScorer``, which the other families' scorers extend).

Errors a client can fix are ``RequestError`` (with the HTTP status and the offending fields), so the service
answers them with a 4xx naming the field and keeps 5xx for its own faults.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cxml.features.reasons import reasons_per_row
from cxml.models.explanation import load_shap
from cxml.serving.precomputed import PrecomputedChurn, load_churn_reasons
from cxml.serving.schemas import (
    BatchChurnRequest,
    ChurnRequest,
    ChurnResponse,
    ErrorDetail,
    ErrorResponse,
    Reason,
    ServedModel,
    ServedSnapshot,
)
from cxml.serving.store import FeatureSnapshot, load_estimator, load_snapshot

if TYPE_CHECKING:
    import bentoml

MAX_LISTED = 10
MAX_MAGNITUDE = 1e12
"""The largest absolute value a numeric feature may take. Boosters read features as float32, where 1e308 is
infinity, integers such as 10**400 overflow any float, and no day count, count or amount comes near 1e12."""


class RequestError(Exception):
    """A request the service cannot score, with the HTTP status and one detail per offending field."""

    def __init__(self, status: int, error: str, detail: Sequence[ErrorDetail] = ()):
        super().__init__(error)
        self.status, self.error, self.detail = status, error, list(detail)

    def body(self) -> dict[str, Any]:
        return ErrorResponse(error=self.error, detail=self.detail).model_dump(mode="json", exclude_none=True)


def _listing(names: Sequence[str]) -> str:
    more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    return ", ".join(names[:MAX_LISTED]) + more


def check_record(
    record: dict[str, Any], names: Sequence[str], categories: dict[str, list[str]], loc: tuple[str | int, ...]
) -> list[ErrorDetail]:
    """A record's problems against the model's features: unknown, missing, wrong type, unknown category, a number
    that is not finite or beyond ``MAX_MAGNITUDE``."""
    if _plainly_valid(record, names, categories):
        return []
    errors = []
    known = set(names)
    for key in record:
        if key not in known:
            errors.append(
                ErrorDetail(
                    type="unknown_feature",
                    loc=[*loc, key],
                    msg=f"unknown feature {key!r}; the model uses: {_listing(list(names))}",
                )
            )
    for name in names:
        if name not in record:
            errors.append(
                ErrorDetail(
                    type="missing_feature",
                    loc=[*loc, name],
                    msg=f"feature {name!r} is required (use null for a missing value)",
                )
            )
            continue
        value = record[name]
        if value is None:
            continue
        if name in categories:
            if not isinstance(value, str):
                errors.append(
                    ErrorDetail(
                        type="string_type",
                        loc=[*loc, name],
                        msg=f"feature {name!r} is a category: expected a string, got {type(value).__name__} {value!r}",
                    )
                )
            elif value not in categories[name]:
                errors.append(
                    ErrorDetail(
                        type="unknown_category",
                        loc=[*loc, name],
                        msg=f"unknown category {value!r} for {name!r}; known: {_listing(categories[name])}",
                    )
                )
        elif not isinstance(value, int | float) or (isinstance(value, float) and not np.isfinite(value)):
            errors.append(
                ErrorDetail(
                    type="number_type",
                    loc=[*loc, name],
                    msg=f"feature {name!r} is numeric: expected a finite number or null, got "
                    f"{type(value).__name__} {_shown(value)}",
                )
            )
        elif abs(value) > MAX_MAGNITUDE:
            errors.append(
                ErrorDetail(
                    type="number_too_large",
                    loc=[*loc, name],
                    msg=f"feature {name!r} is {_shown(value)}: beyond ±{MAX_MAGNITUDE:g}, no feature takes such values",
                )
            )
    return errors


def _shown(value: Any) -> str:
    """A value as an error message shows it: short (10**400 would print 401 digits)."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}…({len(text)} characters)"


def _plainly_valid(record: dict[str, Any], names: Sequence[str], categories: dict[str, list[str]]) -> bool:
    """The fast path of ``check_record``: exactly the model's features, numbers finite, categories known."""
    if len(record) != len(names):
        return False
    for name in names:
        value = record.get(name, _MISSING)
        kind = type(value)
        if kind is float:
            if name in categories or not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
                return False
        elif value is None:
            pass
        elif kind is int:
            if name in categories or abs(value) > MAX_MAGNITUDE:
                return False
        elif kind is str:
            if value not in categories.get(name, ()):
                return False
        else:  # missing, a bool, or anything else: let the full check name it
            return False
    return True


_MISSING = object()
_NUMBER_KINDS = frozenset({float, int, type(None)})


def _column_errors(columns: Sequence[str], names: Sequence[str]) -> list[ErrorDetail]:
    """Unknown, repeated and missing columns of a table request."""
    known, given = set(names), set(columns)
    errors = [
        ErrorDetail(
            type="unknown_feature", loc=["columns", j], msg=f"unknown feature {c!r}; the model uses: {_listing(names)}"
        )
        for j, c in enumerate(columns)
        if c not in known
    ]
    errors += [
        ErrorDetail(type="duplicate_feature", loc=["columns", j], msg=f"feature {c!r} is given twice")
        for j, c in enumerate(columns)
        if c in columns[:j]
    ]
    errors += [
        ErrorDetail(type="missing_feature", loc=["columns"], msg=f"feature {n!r} is required (use null values)")
        for n in names
        if n not in given
    ]
    return errors


def _numbers(column: Sequence[Any]) -> tuple[np.ndarray, list[int]]:
    """A numeric column as floats (null → NaN) and the rows that are not a finite number within ``MAX_MAGNITUDE``
    or null."""
    if set(map(type, column)) <= _NUMBER_KINDS:  # bools, strings and the rest fall through to the slow path
        try:
            as_float = np.array(column, dtype=np.float64)
        except OverflowError:  # an integer beyond any float: the slow path names it
            as_float = None
        if as_float is not None:
            sane = np.abs(as_float) <= MAX_MAGNITUDE  # False for NaN and infinities too
            if sane.all():
                return as_float, []
            return as_float, [i for i in np.flatnonzero(~sane).tolist() if column[i] is not None]
    bad = [i for i, v in enumerate(column) if not _sane_number(v)]
    return np.full(len(column), np.nan), bad


def _sane_number(value: Any) -> bool:
    """Null, or an int or float (not a bool) that is finite and within ``MAX_MAGNITUDE``."""
    if value is None:
        return True
    if type(value) is int:  # compared exactly: math.isfinite(10**400) would overflow
        return abs(value) <= MAX_MAGNITUDE
    return type(value) is float and math.isfinite(value) and abs(value) <= MAX_MAGNITUDE


def _bad_categories(column: Sequence[Any], levels: Sequence[str]) -> list[int]:
    """Rows of a category column that hold neither a known level (a string) nor null."""
    allowed = {*levels, None}
    if set(column) <= allowed:
        return []
    return [i for i, v in enumerate(column) if v not in allowed or (v is not None and type(v) is not str)]


@dataclass
class SnapshotScorer:
    """A served champion and the snapshot it looks customers up in: request checks and feature records."""

    estimator: Any
    model: ServedModel
    snapshot: FeatureSnapshot | None = None
    names: list[str] = field(init=False)
    categories: dict[str, list[str]] = field(init=False)

    def __post_init__(self) -> None:
        self.names = list(self.estimator.encoder_.feature_names_in_)
        self.categories = dict(self.estimator.encoder_.categories_)
        if self.snapshot is not None:
            self.snapshot = self.snapshot.select(self.names)

    def snapshot_info(self) -> ServedSnapshot | None:
        if self.snapshot is None:
            return None
        return ServedSnapshot(bento_tag=self.snapshot.tag, as_of=self.snapshot.as_of, n_customers=len(self.snapshot))

    def _records(self, requests: Sequence[ChurnRequest], batch: bool) -> list[dict[str, Any]]:
        """Every request's feature record, or a RequestError listing every bad item at once."""
        records: list[dict[str, Any]] = []
        errors: list[ErrorDetail] = []
        unknown: list[ErrorDetail] = []
        unknown_ids: list[str] = []
        for i, req in enumerate(requests):
            loc: tuple[str | int, ...] = ("items", i) if batch else ()
            if req.features is not None:
                found = check_record(req.features, self.names, self.categories, (*loc, "features"))
                errors += found or self._record_rules(req.features, (*loc, "features"))
                records.append(req.features)
                continue
            cid = str(req.customer_id)
            record = self.snapshot.record(cid) if self.snapshot is not None else None
            if record is None:
                unknown_ids.append(repr(cid))
                unknown.append(
                    ErrorDetail(
                        type="unknown_customer",
                        loc=[*loc, "customer_id"],
                        msg=f"customer {cid!r} is not in the feature snapshot",
                    )
                )
            records.append(record or {})
        if errors:
            raise RequestError(400, f"{len(errors)} invalid feature value(s)", errors)
        if unknown:
            where = (
                f"the feature snapshot as of {self.snapshot.as_of} ({self.snapshot.tag})"
                if self.snapshot is not None
                else "a feature snapshot (none is served)"
            )
            raise RequestError(
                404,
                f"customer {_listing(unknown_ids)} not found in {where}; send a feature record instead",
                unknown,
            )
        return records

    def _record_rules(self, record: dict[str, Any], loc: tuple[str | int, ...]) -> list[ErrorDetail]:
        """A family's own rules on a well-typed feature record a client sent (none here)."""
        return []

    def _frame(self, records: Sequence[dict[str, Any]]) -> pd.DataFrame:
        return pd.DataFrame({n: [rec.get(n) for rec in records] for n in self.names}, columns=self.names)

    def _table_frame(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
        """The table form of a batch as the model's frame (column by column, no dict per row), or a RequestError
        naming every unknown or missing column and, per bad column, its first offending rows."""
        errors = _column_errors(columns, self.names)
        if errors:
            raise RequestError(400, f"{len(errors)} problem(s) with the columns", errors)
        values = dict(zip(columns, zip(*rows, strict=True), strict=True))
        out: dict[str, Any] = {}
        for name in self.names:
            column, loc = values[name], columns.index(name)
            if name in self.categories:
                out[name], bad, what = column, _bad_categories(column, self.categories[name]), "a known category"
            else:
                out[name], bad = _numbers(column)
                what = f"a finite number within ±{MAX_MAGNITUDE:g} or null"
            if bad:
                errors.append(
                    ErrorDetail(
                        type="unknown_category" if name in self.categories else "number_type",
                        loc=["rows", bad[0], loc],
                        msg=f"column {name!r} needs {what}: rows {bad[:MAX_LISTED]} have "
                        f"{_listing([_shown(column[i]) for i in bad])}",
                    )
                )
        if errors:
            raise RequestError(400, f"{len(errors)} column(s) with invalid values", errors)
        return pd.DataFrame(out, columns=self.names)

    def _snapshot_as_of(self, req: ChurnRequest) -> str | None:
        """The snapshot date when the features came from it (None for a feature record)."""
        return self.snapshot.as_of if req.customer_id is not None and self.snapshot is not None else None


@dataclass
class ChurnScorer(SnapshotScorer):
    """The served churn champion: probabilities, and reasons when asked for (looked up for a snapshot customer
    when they were precomputed for this champion and snapshot, else explained on demand)."""

    precomputed: PrecomputedChurn | None = None

    def _response(self, req: ChurnRequest, probability: float, reasons: list[Reason]) -> ChurnResponse:
        return ChurnResponse(
            customer_id=req.customer_id,
            probability=min(max(probability, 0.0), 1.0),
            model_name=self.model.mlflow_model,
            model_version=self.model.mlflow_version,
            snapshot_as_of=self._snapshot_as_of(req),
            reasons=reasons,
        )

    def _reasons(self, frame: pd.DataFrame, top_k: Sequence[int]) -> list[list[Reason]]:
        if max(top_k, default=0) == 0:
            return [[] for _ in top_k]
        explanation = self.estimator.explain(frame, output="probability")
        every = reasons_per_row(explanation, k=max(top_k))
        return [[Reason.model_validate(r.as_dict()) for r in found[:k]] for found, k in zip(every, top_k, strict=True)]

    def score(self, req: ChurnRequest) -> ChurnResponse:
        """One customer: looked up when precomputed, else the probability on the fast single-row path and
        reasons only when asked for."""
        if (found := self._looked_up(req)) is not None:
            return found
        record = self._records([req], batch=False)[0]
        probability = float(self.estimator.predict_record(record))
        reasons = self._reasons(self._frame([record]), [req.top_k])[0] if req.top_k else []
        return self._response(req, probability, reasons)

    def _looked_up(self, req: ChurnRequest) -> ChurnResponse | None:
        """The precomputed answer for a snapshot customer (None: score on demand)."""
        done, snapshot = self.precomputed, self.snapshot
        if done is None or snapshot is None or req.customer_id is None:
            return None
        row = snapshot.rows.get(req.customer_id)
        if row is None or req.top_k > done.features.shape[1]:
            return None
        record = (snapshot.record(req.customer_id) or {}) if req.top_k else {}  # the values the reasons name
        reasons = [Reason.model_validate(r.as_dict()) for r in done.reasons(row, req.top_k, record)]
        return self._response(req, float(done.probability[row]), reasons)

    def score_batch(self, requests: Sequence[ChurnRequest]) -> list[ChurnResponse]:
        """Many customers in one vectorised prediction (and one explanation call when reasons are wanted)."""
        records = self._records(requests, batch=True)
        frame = self._frame(records)
        proba = np.asarray(self.estimator.predict_proba(frame))[:, 1]
        reasons = self._reasons(frame, [r.top_k for r in requests])
        return [self._response(r, float(p), rs) for r, p, rs in zip(requests, proba, reasons, strict=True)]

    def score_many(self, request: BatchChurnRequest) -> list[ChurnResponse]:
        """A batch request in either form: ``items`` or the table (``columns`` + ``rows``)."""
        if request.items is not None:
            return self.score_batch(request.items)
        if request.columns is None or request.rows is None:  # the schema has refused such a request already
            raise RequestError(400, "give either 'items' or 'columns' and 'rows'")
        return self.score_table(request.columns, request.rows, request.top_k)

    def score_table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], top_k: int = 0) -> list[ChurnResponse]:
        """The table form of a batch: one response per row, in order (built unvalidated: every value is ours)."""
        frame = self._table_frame(columns, rows)
        proba = np.clip(np.asarray(self.estimator.predict_proba(frame))[:, 1], 0.0, 1.0)
        reasons = self._reasons(frame, [top_k] * len(frame))
        name, version = self.model.mlflow_model, self.model.mlflow_version
        return [
            ChurnResponse.model_construct(
                customer_id=None, probability=p, model_name=name, model_version=version, snapshot_as_of=None, reasons=r
            )
            for p, r in zip(proba.tolist(), reasons, strict=True)
        ]


def served_model(model: bentoml.Model, estimator: Any) -> ServedModel:
    """What ``GET /info`` says about an exported champion: its exact tags, versions and features."""
    labels = model.info.labels
    return ServedModel(
        family=labels.get("family", "churn"),
        bento_tag=str(model.tag),
        mlflow_model=labels["mlflow_model"],
        mlflow_version=labels["mlflow_version"],
        mlflow_run_id=labels["mlflow_run_id"],
        features=[str(c) for c in feature_names(estimator)],
    )


def feature_names(estimator: Any) -> list[str]:
    """The features a served estimator reads, in order (its encoder's when it has one)."""
    encoder = getattr(estimator, "encoder_", None)
    names = getattr(encoder, "feature_names_in_", None)
    return [str(c) for c in (names if names is not None else getattr(estimator, "feature_names_in_", []))]


def load_churn_scorer(model: bentoml.Model, snapshot: bentoml.Model | None = None) -> ChurnScorer:
    """A scorer for an exported champion (and snapshot) read from the BentoML store, single-threaded."""
    estimator = load_estimator(model, nthread=1)
    load_shap()  # reasons are shap.Explanations: pay the import at start, not on the first request that asks
    if hasattr(estimator, "leaf_paths"):
        estimator.leaf_paths()  # and the trees' table their values come from (~1 s), likewise
    scorer = ChurnScorer(estimator, served_model(model, estimator), load_snapshot(snapshot) if snapshot else None)
    scorer.precomputed = load_churn_reasons(model, scorer.snapshot)
    return scorer
