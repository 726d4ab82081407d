"""The ``cxml lookalike`` job: score every customer outside a seed set by likeness, tracked in ``cxml/lookalike``."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from cxml import progress, tracking
from cxml.config import Workspace
from cxml.data.sources import read_flat_table
from cxml.features.build import build_features
from cxml.features.labels import churn_labels
from cxml.models.lookalike import LookalikeScorer, evaluate_lookalike, scored_list, write_scored_list

log = logging.getLogger(__name__)


def churner_seed(tables: dict[str, pd.DataFrame], as_of: str, days: int = 90) -> pd.Index:
    """Customers active before the last ``days`` who made no purchase in them: last quarter's churners."""

    start = pd.Timestamp(as_of) - pd.Timedelta(days=days)
    labels = churn_labels(tables["orders"], tables["customers"], start, days, 180)
    return labels.index[labels.to_numpy() == 1]


def read_seed_ids(path: Path) -> pd.Index:
    """Seed customer ids from a file: a ``customer_id`` column (CSV/Parquet), or one id per line."""

    if path.suffix.lower() in {".csv", ".parquet", ".pq"}:
        frame = read_flat_table(path)
        if "customer_id" not in frame.columns:
            raise ValueError(f"{path} has no customer_id column; it has {list(frame.columns)[:10]}")
        ids = frame["customer_id"].dropna().astype(str)
    else:
        ids = pd.Series([line.strip() for line in path.read_text().splitlines() if line.strip()])
    if ids.empty:
        raise ValueError(f"{path} holds no customer ids")
    return pd.Index(ids.unique())


def run_lookalike(
    ws: Workspace,
    tables: dict[str, pd.DataFrame],
    as_of: str,
    seed_ids: pd.Index,
    out: Path,
    *,
    level: float = 0.1,
    seed_name: str = "seed",
) -> dict[str, Any]:
    """Score every customer outside the seed by likeness, write the scored list, log recall at each level."""

    features = build_features(tables, as_of)
    unknown = pd.Index(seed_ids).difference(features.index)
    if len(unknown) == len(pd.Index(seed_ids)):
        raise ValueError(f"no seed customer is known at {as_of} (first ids: {list(unknown[:5])})")
    if len(unknown):
        log.warning("%d seed ids unknown at %s dropped (first: %s)", len(unknown), as_of, list(unknown[:5]))
    seed = pd.Index(seed_ids).intersection(features.index)
    with progress.step("comparing lookalike methods on held-out seed customers"):
        evaluation = evaluate_lookalike(features, seed, levels=(0.05, 0.1, 0.2))
    best = evaluation.groupby("method")["recall"].mean().idxmax()
    model = LookalikeScorer(method=best).fit(features, seed_ids=seed)
    scored = scored_list(model, level)
    path = write_scored_list(scored, out)
    reasons = model.reasons()
    tracking.configure(ws)
    experiment_id = tracking.ensure_experiment("cxml/lookalike", ws)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"lookalike-{seed_name}-{as_of}") as run:
        mlflow.log_params({"as_of": as_of, "seed": seed_name, "n_seed": len(seed), "level": level, "method": best})
        mlflow.log_metrics(
            {f"recall_{r.method}_at_{round(r.level * 100)}pct": r.recall for r in evaluation.itertuples()}
        )
        with tempfile.TemporaryDirectory() as tmp:
            evaluation.to_csv(Path(tmp) / "evaluation.csv", index=False)
            reasons.to_csv(Path(tmp) / "reasons.csv", index=False)
            mlflow.log_artifacts(tmp, artifact_path="lookalike")
    return {
        "run_id": run.info.run_id,
        "path": str(path),
        "method": best,
        "n_seed": len(seed),
        "n_scored": len(scored),
        "n_selected": int(scored["selected"].sum()),
        "recall": {
            f"{r.method}@{r.level:.0%}": round(r.recall, 4) for r in evaluation.itertuples() if r.method == best
        },
        "random": {f"@{r.level:.0%}": round(r.random, 4) for r in evaluation.itertuples() if r.method == best},
        "alike_because": reasons["text"].tolist(),
    }
