"""Export champions and feature snapshots into the BentoML model store, and read them back for serving.

The service never resolves an alias or a ``:latest`` tag: ``export_champion`` pins the MLflow champion to
an exact BentoML tag (``cxml-churn:v3-1a2b3c4d`` = MLflow version 3 of run ``1a2b3c4d…``), and the manifest
``models/served.json`` lists the exact tags to serve. The store is always passed explicitly, because
BentoML resolves ``BENTOML_HOME`` once per process: setting the variable after the first use of the store
would silently write to ``~/bentoml``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
import pandas as pd

from cxml import tracking
from cxml.config import Workspace
from cxml.pyfunc import load_estimator as load_pyfunc_estimator
from cxml.registry import CHAMPION
from cxml.tracking import frame_digest

if TYPE_CHECKING:
    import bentoml
    from bentoml._internal.models import ModelStore

log = logging.getLogger(__name__)

ESTIMATOR_FILE = "estimator.joblib"
SNAPSHOT_FILE = "snapshot.parquet"
CONTACTS_FILE = "contacts.parquet"
SNAPSHOT_NAME = "cxml-snapshot"
ID_NAME = "customer_id"


def model_store(ws: Workspace) -> ModelStore:
    """The BentoML model store under ``ws.bentoml_home`` (the layout ``BENTOML_HOME`` uses)."""
    from bentoml._internal.models import ModelStore

    root = ws.bentoml_home / "models"
    root.mkdir(parents=True, exist_ok=True)
    return ModelStore(str(root))


def bento_name(family: str) -> str:
    return f"cxml-{family}"


def _existing(store: ModelStore, tag: str) -> bentoml.Model | None:
    """The model of exactly ``tag``: BentoML's ``get`` falls back to a version that merely starts with it (the
    champion without rows ``v3-1a2b3c4d`` would find ``v3-1a2b3c4d-<rows digest>``, or fail on two of them)."""
    from bentoml.exceptions import BentoMLException

    try:
        found = store.get(tag)
    except BentoMLException:  # NotFound, or several versions start with it
        return None
    return found if str(found.tag) == tag else None


def _run_metrics(client: Any, run_id: str) -> dict[str, float]:
    metrics = client.get_run(run_id).data.metrics
    return {k: float(v) for k, v in metrics.items() if k.startswith(("holdout_", "baseline_"))}


def export_champion(
    ws: Workspace,
    family: str = "churn",
    model_name: str | None = None,
    extra_metadata: dict[str, Any] | None = None,
    rows: Callable[[Any], pd.DataFrame | dict[str, pd.DataFrame]] | None = None,
    loader: Callable[[str], Any] | None = None,
) -> str:
    """Copy the MLflow ``champion`` of ``cxml.<family>`` (or ``model_name``) into the BentoML store.

    ``extra_metadata`` travels with the model (uplift: effect bands, campaign costs); ``rows`` (champion → the
    rows its endpoint looks customers up in, or several named frames) are stored beside it, and their digest
    joins the tag, so a new
    snapshot of the same version is a new tag. ``loader`` reads the estimator from a ``models:/`` URI (default:
    a cxml pyfunc's estimator). Returns the exact tag; exporting the same again does not copy.
    """
    import bentoml
    from mlflow.exceptions import MlflowException

    name = model_name or f"cxml.{family}"
    tracking.configure(ws)
    client = tracking.client()
    try:
        mv = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as exc:
        raise LookupError(f"{name} has no {CHAMPION!r} alias in {ws.tracking_uri}: train and promote first") from exc
    run_id = mv.run_id or mv.tags.get("run_id", "")
    if not run_id:
        raise LookupError(f"{name} version {mv.version} records no run id")
    estimator = (loader or load_pyfunc_estimator)(f"models:/{name}/{mv.version}")
    made = rows(estimator) if rows is not None else None
    frames = {"rows": made} if isinstance(made, pd.DataFrame) else made
    digest = f"-{_rows_digest(*frames.values())}" if frames else ""
    tag = f"{bento_name(family)}:v{mv.version}-{run_id[:8]}{digest}"
    store = model_store(ws)
    if (found := _existing(store, tag)) is not None:
        log.info("%s v%s already exported as %s", name, mv.version, found.tag)
        return str(found.tag)
    labels = {
        "family": family,
        "mlflow_model": name,
        "mlflow_version": str(mv.version),
        "mlflow_run_id": run_id,
    }
    metadata = {
        "features": [str(c) for c in getattr(estimator, "feature_names_in_", [])],
        "metrics": _run_metrics(client, run_id),
        "tracking_uri": ws.tracking_uri,
        "mlflow_tags": dict(mv.tags),
        **(extra_metadata or {}),
    }
    with bentoml.models.create(tag, labels=labels, metadata=metadata, _model_store=store) as model:
        joblib.dump(estimator, model.path_of(ESTIMATOR_FILE))
        for file, frame in (frames or {}).items():
            frame.to_parquet(model.path_of(f"{file}.parquet"))
    log.info("exported %s v%s (champion) as %s", name, mv.version, tag)
    return tag


def _rows_digest(*frames: pd.DataFrame) -> str:
    """The rows' content hash, their ``attrs`` included (precomputed reasons name the snapshot they are for)."""
    attrs = [pd.DataFrame({"attrs": [json.dumps(f.attrs, sort_keys=True)]}) for f in frames if f.attrs]
    return frame_digest(*frames, *attrs)[:8]


def load_rows(model: bentoml.Model, name: str = "rows") -> pd.DataFrame:
    """The lookup rows exported with a champion (``export_champion(rows=...)``; ``name`` for one of several)."""
    path = Path(model.path_of(f"{name}.parquet"))
    if not path.exists():
        raise FileNotFoundError(f"{model.tag} was exported without lookup rows {path.name!r}; export it again")
    return pd.read_parquet(path)


def export_snapshot(ws: Workspace, features: pd.DataFrame, as_of: str, contacts: pd.DataFrame | None = None) -> str:
    """Save the features (one row per customer, index = customer id) as ``cxml-snapshot:<as_of>-<digest>``,
    with each customer's consent and contact history (``cxml.decision.policy.contact_states``) when given."""
    import bentoml

    if not features.index.is_unique:
        dup = features.index[features.index.duplicated()].unique()[:5].tolist()
        raise ValueError(f"feature snapshot has duplicate customer ids, e.g. {dup}")
    frame = features.copy()
    frame.index = frame.index.astype(str).rename(ID_NAME)
    frame.columns = [str(c) for c in frame.columns]
    parts = [frame] if contacts is None else [frame, contacts.astype(str)]
    version = f"{pd.Timestamp(as_of).date()}-{frame_digest(*parts)[:8]}"
    tag = f"{SNAPSHOT_NAME}:{version}"
    store = model_store(ws)
    if (found := _existing(store, tag)) is not None:
        return str(found.tag)
    labels = {"as_of": str(pd.Timestamp(as_of).date()), "n_customers": str(len(frame))}
    with bentoml.models.create(tag, labels=labels, metadata={"columns": list(frame.columns)}, _model_store=store) as m:
        frame.to_parquet(m.path_of(SNAPSHOT_FILE))
        if contacts is not None:
            stored = contacts.assign(contacts=contacts["contacts"].map(list))
            stored.rename_axis(ID_NAME).to_parquet(m.path_of(CONTACTS_FILE))
    log.info("exported the feature snapshot as of %s (%d customers) as %s", as_of, len(frame), tag)
    return tag


def _check_tag(key: str, tag: object) -> str:
    if not isinstance(tag, str) or ":" not in tag or tag.rsplit(":", 1)[1] in ("", "latest"):
        raise ValueError(f"manifest entry {key!r} must be an exact tag name:version, got {tag!r}")
    return tag


def write_manifest(path: Path, tags: dict[str, str]) -> None:
    """Write the exact tags to serve (e.g. ``{"churn": ..., "snapshot": ...}``) atomically."""
    body = json.dumps({k: _check_tag(k, v) for k, v in sorted(tags.items())}, indent=2) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(body)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_manifest(path: Path, required: tuple[str, ...] = ()) -> dict[str, str]:
    """The exact tags to serve; fails naming the file and the entry when one is missing or floating."""
    if not path.exists():
        raise FileNotFoundError(f"no serving manifest at {path.resolve()}: run the export first (or set CXML_MANIFEST)")
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the manifest must be a JSON object of name → exact tag")
    missing = [k for k in required if k not in data]
    if missing:
        raise ValueError(f"{path}: no tag for {missing}; it lists {sorted(data)}")
    return {str(k): _check_tag(str(k), v) for k, v in data.items()}


def _is_number(series: pd.Series) -> bool:
    api = pd.api.types
    return bool(api.is_numeric_dtype(series) or api.is_bool_dtype(series))


class FeatureSnapshot:
    """Features of every customer at ``as_of`` for O(1) lookups by customer id.

    Numbers live in one float matrix and categories as integer codes (a million customers × 40 features is
    ~300 MB, where an object matrix would be several GB per worker); ``record`` rebuilds one customer's dict.
    """

    def __init__(self, frame: pd.DataFrame, as_of: str, tag: str = ""):
        self.as_of, self.tag = as_of, tag
        self.rows = {str(cid): i for i, cid in enumerate(frame.index)}
        numeric = [c for c in frame.columns if _is_number(frame[c])]
        other = [c for c in frame.columns if c not in numeric]
        n = len(frame)
        self.numbers = np.empty((n, len(numeric)), dtype=np.float64)
        for j, col in enumerate(numeric):
            self.numbers[:, j] = frame[col].astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
        self.codes = np.empty((n, len(other)), dtype=np.int32)
        self.levels: list[list[str]] = []
        for j, col in enumerate(other):
            codes, uniques = pd.factorize(frame[col].astype("str").where(frame[col].notna()))
            self.codes[:, j] = codes
            self.levels.append([str(u) for u in uniques])
        slots = {str(c): (True, j) for j, c in enumerate(numeric)} | {str(c): (False, j) for j, c in enumerate(other)}
        self._all_slots = slots
        self.columns = [str(c) for c in frame.columns]
        self._slots = [(c, *slots[c]) for c in self.columns]

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, customer_id: object) -> bool:
        return customer_id in self.rows

    def ids(self) -> list[str]:
        """The customer ids in row order."""
        return list(self.rows)

    def frame(self, start: int = 0, stop: int | None = None) -> pd.DataFrame:
        """Rows ``start:stop`` as the frame a scorer builds from their records (numbers as float64 with NaN,
        categories as strings or None, in ``columns`` order), for batch work over the whole snapshot."""
        rows = slice(start, stop)
        index = pd.Index(self.ids()[rows], name=ID_NAME)
        out: dict[str, pd.Series] = {}
        for name, is_number, j in self._slots:
            if is_number:
                out[name] = pd.Series(self.numbers[rows, j], index=index, dtype=np.float64)
            else:  # object, not pandas' str dtype: a missing category stays None, as in a record
                levels = np.array([*self.levels[j], None], dtype=object)  # code -1 (missing) → None
                out[name] = pd.Series(levels[self.codes[rows, j]], index=index, dtype=object)
        return pd.DataFrame(out, columns=self.columns, index=index)

    def record(self, customer_id: str) -> dict[str, object] | None:
        """The customer's features as ``{name: value}`` (NaN or None when missing); None for an unknown id."""
        i = self.rows.get(customer_id)
        if i is None:
            return None
        numbers, codes = self.numbers[i], self.codes[i]
        out: dict[str, object] = {}
        for name, is_number, j in self._slots:
            if is_number:
                out[name] = float(numbers[j])
            else:
                code = int(codes[j])
                out[name] = None if code < 0 else self.levels[j][code]
        return out

    def select(self, columns: list[str]) -> FeatureSnapshot:
        """The same customers with ``columns`` in that order (a model's features); names any missing."""
        missing = [c for c in columns if c not in self._all_slots]
        if missing:
            raise ValueError(f"snapshot {self.tag or self.as_of} lacks features the model needs: {missing}")
        out = copy.copy(self)
        out.columns = list(columns)
        out._slots = [(c, *self._all_slots[c]) for c in columns]
        return out


def load_estimator(model: bentoml.Model, *, nthread: int = 1) -> Any:
    """The estimator inside an exported champion; XGBoost boosters are pinned to ``nthread`` threads."""
    estimator = joblib.load(model.path_of(ESTIMATOR_FILE))
    for booster, _ in getattr(estimator, "boosters_", []):
        if hasattr(booster, "set_param"):
            booster.set_param({"nthread": nthread})
    return estimator


def load_contacts(model: bentoml.Model) -> pd.DataFrame:
    """The contact states exported with a snapshot (empty when there are none: nobody may get marketing)."""
    path = Path(model.path_of(CONTACTS_FILE))
    if not path.exists():
        return pd.DataFrame(columns=["consent_marketing", "contacts", "last_negative_at"])
    frame = pd.read_parquet(path)
    frame["contacts"] = frame["contacts"].map(lambda v: tuple(pd.Timestamp(t) for t in v))
    frame.index = frame.index.astype(str)
    return frame


def load_values(model: bentoml.Model, column: str) -> pd.Series:
    """One snapshot column by customer id (empty when the snapshot does not have it)."""
    frame = pd.read_parquet(model.path_of(SNAPSHOT_FILE))
    if column not in frame.columns:
        return pd.Series(dtype="float64")
    values = frame[column].astype("float64")
    values.index = values.index.astype(str)
    return values


def load_snapshot(model: bentoml.Model) -> FeatureSnapshot:
    frame = pd.read_parquet(model.path_of(SNAPSHOT_FILE))
    return FeatureSnapshot(frame, model.info.labels.get("as_of", ""), str(model.tag))
