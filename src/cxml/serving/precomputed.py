"""Churn scores and reasons of every customer in the served snapshot, computed in batch at export and looked up
at request time.

Tree SHAP of one row costs milliseconds on demand (a frame, the encoder, the boosters, a ``shap.Explanation``)
but microseconds a row in batch, so ``cxml build`` explains the whole snapshot once and stores, beside the
champion's estimator, each customer's probability and top ``MAX_REASONS`` reasons (as feature positions and
contributions: the sentences are rebuilt from the snapshot's values at request time, which keeps a million
customers near 100 MB per worker instead of gigabytes of strings). The file names the snapshot tag it was
computed on; a champion served with any other snapshot explains on demand (and says so once in the log).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cxml import progress
from cxml.features.reasons import Reason, reason
from cxml.serving.store import FeatureSnapshot

if TYPE_CHECKING:
    import bentoml

log = logging.getLogger(__name__)

REASONS_ROWS = "reasons"
"""The name of the rows exported with the champion (``reasons.parquet`` beside its estimator)."""
MAX_REASONS = 10
"""The largest ``top_k`` the API allows (``schemas.ChurnRequest``): requests take a prefix of these."""
MIN_ABS = 1e-4
"""Contributions below this are no reason (as ``reasons_per_row``'s default)."""
CHUNK_ROWS = 20_000
"""Rows explained at a time: bounds the memory of the SHAP matrices, and paces the progress bar."""


@dataclass(frozen=True)
class PrecomputedChurn:
    """Per snapshot row: the probability, and the top reasons as feature positions (-1: none) and contributions."""

    probability: np.ndarray
    """(n,) float64: ``predict_proba`` of the row."""
    features: np.ndarray
    """(n, MAX_REASONS) int16: positions in the model's feature names, biggest effect first, -1 past the last."""
    contributions: np.ndarray
    """(n, MAX_REASONS) float64: each reason's contribution on the probability scale."""
    names: list[str]

    def reasons(self, row: int, k: int, record: dict[str, Any]) -> list[Reason]:
        """The row's ``k`` biggest reasons, worded from the customer's values as on demand."""
        out = []
        for j, c in zip(self.features[row, :k].tolist(), self.contributions[row, :k].tolist(), strict=True):
            if j < 0:
                break
            name = self.names[j]
            out.append(reason(name, record[name], c))
        return out

    @property
    def nbytes(self) -> int:
        return self.probability.nbytes + self.features.nbytes + self.contributions.nbytes


def churn_reasons(estimator: Any, snapshot: FeatureSnapshot, k: int = MAX_REASONS) -> pd.DataFrame:
    """Every snapshot customer's churn probability and top ``k`` reasons (``probability``, ``feature_i``,
    ``contribution_i``; index = customer id, in snapshot order; ``attrs`` name the snapshot and the features)."""
    snapshot = snapshot.select(list(estimator.encoder_.feature_names_in_))
    n = len(snapshot)
    probability = np.empty(n)
    features = np.full((n, k), -1, dtype=np.int16)
    contributions = np.zeros((n, k))
    starts = range(0, n, CHUNK_ROWS)
    for start in progress.bar(starts, "explaining the snapshot's customers", total=len(starts), unit="chunk"):
        frame = snapshot.frame(start, start + CHUNK_ROWS)
        rows = slice(start, start + len(frame))
        probability[rows] = np.asarray(estimator.predict_proba(frame))[:, 1]
        phi = np.asarray(estimator.explain(frame, output="probability").values, dtype=np.float64)
        top = np.argsort(-np.abs(phi), axis=1, kind="stable")[:, :k]  # the order ``reasons_per_row`` takes
        picked = np.take_along_axis(phi, top, axis=1)
        kept = np.abs(picked) >= MIN_ABS  # sorted by size: once below, every later one is too
        width = top.shape[1]  # fewer than k when the model has fewer features: the rest stay -1
        features[rows, :width] = np.where(kept, top, -1)
        contributions[rows, :width] = np.where(kept, picked, 0.0)
    out = pd.DataFrame(
        {
            "probability": probability,
            **{f"feature_{i}": features[:, i] for i in range(k)},
            **{f"contribution_{i}": contributions[:, i] for i in range(k)},
        },
        index=pd.Index(snapshot.ids(), name="customer_id"),
    )
    out.attrs = {"snapshot": snapshot.tag, "features": snapshot.columns}
    return out


def with_churn_reasons(
    rows: Callable[[Any], Any] | None, snapshot: Callable[[], FeatureSnapshot]
) -> Callable[[Any], dict[str, pd.DataFrame]]:
    """An export's ``rows`` callable (champion → named frames) that adds the snapshot's precomputed reasons to
    the family's own rows (if any)."""

    def make(estimator: Any) -> dict[str, pd.DataFrame]:
        made = rows(estimator) if rows is not None else None
        frames = {"rows": made} if isinstance(made, pd.DataFrame) else dict(made or {})
        return {**frames, REASONS_ROWS: churn_reasons(estimator, snapshot())}

    return make


def load_churn_reasons(model: bentoml.Model, snapshot: FeatureSnapshot | None) -> PrecomputedChurn | None:
    """The precomputed reasons exported with ``model``, if any, when they fit ``snapshot`` (``fitting``); read
    one column at a time into the final arrays and without the customer ids (the snapshot holds them), so a
    worker's memory grows by the arrays (~100 MiB a million customers), not by Arrow's copies of the file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(model.path_of(f"{REASONS_ROWS}.parquet"))
    if snapshot is None or not path.exists():
        return None
    file = pq.ParquetFile(path)
    attrs = json.loads((file.schema_arrow.metadata or {}).get(b"PANDAS_ATTRS", b"{}"))
    if not _fits(attrs, file.metadata.num_rows, snapshot, str(model.tag)):
        return None

    def column(name: str) -> np.ndarray:
        return file.read(columns=[name], use_threads=False).column(0).to_numpy()

    found = _lookups(column, file.schema_arrow.names, snapshot, str(model.tag))
    pa.default_memory_pool().release_unused()
    return found


def fitting(frame: pd.DataFrame, snapshot: FeatureSnapshot, source: str) -> PrecomputedChurn | None:
    """``churn_reasons``' frame as lookups when it fits ``snapshot``, else None (logged)."""
    if not _fits(frame.attrs, len(frame), snapshot, source):
        return None
    return _lookups(lambda name: frame[name].to_numpy(), [str(c) for c in frame.columns], snapshot, source)


def _fits(attrs: dict[str, Any], n_rows: int, snapshot: FeatureSnapshot, source: str) -> bool:
    """Whether reasons (their ``attrs`` and row count) were computed on exactly ``snapshot`` for the model's
    features: its tag is a digest of its rows in order, so the same tag means the same customers in the same
    rows. Logs why not (once: a worker loads them once), and requests are explained on demand."""
    made_for = attrs.get("snapshot")
    why = None
    if made_for != snapshot.tag:
        why = f"they were computed on snapshot {made_for}, the served one is {snapshot.tag}"
    elif list(attrs.get("features", [])) != snapshot.columns:
        why = "they name other features than the model reads"
    elif n_rows != len(snapshot):
        why = f"they hold {n_rows} customers, the snapshot {len(snapshot)}"
    if why is not None:
        log.warning("not using the precomputed reasons of %s (%s): explaining on demand", source, why)
    return why is None


def _lookups(
    column: Callable[[str], np.ndarray], names: list[str], snapshot: FeatureSnapshot, source: str
) -> PrecomputedChurn:
    """The lookup arrays filled column by column from ``column(name)``."""
    n, k = len(snapshot), sum(1 for c in names if c.startswith("feature_"))
    features, contributions = np.empty((n, k), dtype=np.int16), np.empty((n, k), dtype=np.float64)
    for i in range(k):
        features[:, i] = column(f"feature_{i}")
        contributions[:, i] = column(f"contribution_{i}")
    found = PrecomputedChurn(
        probability=np.array(column("probability"), dtype=np.float64),
        features=features,
        contributions=contributions,
        names=list(snapshot.columns),
    )
    log.info(
        "answering the %d customers of %s from the reasons precomputed with %s (%.1f MiB)",
        n,
        snapshot.tag,
        source,
        found.nbytes / 2**20,
    )
    return found
