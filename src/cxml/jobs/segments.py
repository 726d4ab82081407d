"""The ``cxml segments`` job: behavioural segments with lifecycle stages and value × engagement cells.

Tracked in MLflow (experiment ``cxml/segments``). The segmenter is registered
as ``cxml.segments`` and becomes champion only through its gate: assignments stable across seeds (mean adjusted
Rand index ≥ ``min_ari``) and no segment smaller than ``min_share`` of the customers.

The segments are drawn on what customers buy and how much per order (``cxml.datasets.segments``); the card
(``segments.html`` and ``--json``) gives every segment's churn rate, value and campaign response with 95 %
intervals, so a marketer can see which differences are real before acting on them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from cxml import registry, tracking
from cxml.config import Workspace
from cxml.datasets.segments import campaign_responses, segment_churn, segment_features
from cxml.evaluation import plots
from cxml.evaluation.segment_outcomes import segment_outcomes
from cxml.evaluation.survival_metrics import kaplan_meier, kaplan_meier_summary
from cxml.features.build import FEATURE_SET
from cxml.features.tenure import lifetime_labels
from cxml.html import render
from cxml.models.lifecycle_stage import migration_matrix, stage_at
from cxml.models.segmentation import BehaviouralSegmenter, grid_summary, value_engagement_grid
from cxml.pyfunc import code_paths, pip_requirements

log = logging.getLogger(__name__)
SEGMENTS_MODEL = "cxml.segments"


@dataclass(frozen=True)
class SegmentsResult:
    run_id: str
    model_version: str
    gate: registry.GateDecision
    k: int
    mean_ari: float
    min_share: float
    segments: pd.DataFrame
    """One row per segment: size, share, name, traits in words and outcomes (``OUTCOME_COLUMNS``)."""
    assignments: pd.DataFrame
    """One row per customer: segment, name, lifecycle stage, value × engagement cell."""
    migration: pd.DataFrame | None
    """Stage counts from ``compare_to`` (rows) to ``as_of`` (columns), when asked."""
    lifetimes: pd.DataFrame
    """Kaplan–Meier customer lifetimes per segment: customers, lapses, median months and S(6/12/24 months)."""
    out_dir: Path

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model_name": SEGMENTS_MODEL,
            "model_version": self.model_version,
            "gate": {"decision": "promoted" if self.gate.passed else "refused", "reason": self.gate.reason},
            "k": self.k,
            "mean_ari": self.mean_ari,
            "min_share": self.min_share,
            "stages": self.assignments["stage"].value_counts().to_dict(),
            "median_lifetime_months": self.lifetimes["median"].to_dict(),
            "segments": [segment_card(int(seg), row) for seg, row in self.segments.iterrows()],
            "card": str(self.out_dir / "segments.html"),
            "out_dir": str(self.out_dir),
        }


def _interval(value: float, low: float, high: float, n: int | None = None) -> dict[str, Any]:
    """One figure with its 95 % interval, ``None`` where it could not be measured (strict JSON)."""
    clean = {k: (float(v) if pd.notna(v) else None) for k, v in {"value": value, "low": low, "high": high}.items()}
    return clean | ({"n": int(n)} if n is not None else {})


def segment_card(seg: int, row: pd.Series) -> dict[str, Any]:
    """One segment's card: who they are and what they are worth acting on, each figure with its interval."""
    return {
        "segment": seg,
        "name": str(row["name"]),
        "customers": int(row["size"]),
        "share": float(row["share"]),
        "traits": list(row["traits"]),
        "churn_rate": _interval(row["churn_rate"], row["churn_low"], row["churn_high"], row["churn_n"]),
        "value_365d": _interval(row["value_mean"], row["value_low"], row["value_high"]),
        "campaign": {
            "treated_rate": _interval(row["treated_rate"], row["treated_low"], row["treated_high"], row["treated_n"]),
            "control_rate": _interval(row["control_rate"], row["control_low"], row["control_high"], row["control_n"]),
            "uplift": _interval(row["uplift"], row["uplift_low"], row["uplift_high"]),
        },
    }


def segment_gate(mean_ari: float, min_share: float, *, min_ari: float, min_size: float) -> registry.GateDecision:
    """Promote a segmentation only when it is stable across seeds and has no tiny segment."""
    problems = []
    if mean_ari < min_ari:
        problems.append(f"mean ARI across seeds {mean_ari:.3f} < {min_ari}")
    if min_share < min_size:
        problems.append(f"smallest segment {min_share:.1%} < {min_size:.0%}")
    if problems:
        return registry.GateDecision(False, "refused: " + "; ".join(problems), "mean_ari", mean_ari, min_ari, None)
    reason = f"promoted: mean ARI {mean_ari:.3f}, smallest segment {min_share:.1%}"
    return registry.GateDecision(True, reason, "mean_ari", mean_ari, min_ari, None)


def run_segments(
    ws: Workspace,
    tables: dict[str, pd.DataFrame],
    as_of: str,
    *,
    compare_to: str | None = None,
    seeds: tuple[int, ...] = (0, 1, 2),
    min_ari: float = 0.8,
    min_size: float = 0.03,
    out_dir: Path | None = None,
    source: str = "",
) -> SegmentsResult:
    """Segment the customers at ``as_of``, attach stage and value × engagement, log, register and gate."""

    features = segment_features(tables, as_of)
    segmenter = BehaviouralSegmenter(random_state=seeds[0]).fit(features)
    stability = segmenter.stability(features, seeds)
    labels = pd.Series(segmenter.labels_, index=features.index)
    outcomes = segment_outcomes(
        labels, segment_churn(tables, as_of), features["spend_365d"].fillna(0.0), campaign_responses(tables, as_of)
    )
    segments = segmenter.describe().join(outcomes.drop(columns="customers"))
    stages = stage_at(tables, as_of)
    grid = value_engagement_grid(features)
    assignments = segmenter.segment(features).join(grid).join(stages[["stage", "reason"]])
    migration = None
    if compare_to is not None:
        migration = migration_matrix(stage_at(tables, compare_to), stages).counts
    lifetimes = segment_lifetimes(tables, as_of, assignments["segment_name"])
    min_share = float(segments["share"].min())
    decision = segment_gate(stability.mean_ari, min_share, min_ari=min_ari, min_size=min_size)
    out = out_dir or ws.reports / "segments"
    out.mkdir(parents=True, exist_ok=True)
    tracking.configure(ws)
    experiment_id = tracking.ensure_experiment("cxml/segments", ws)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"segments-{as_of}") as run:
        mlflow.log_params(
            {
                "as_of": as_of,
                "compare_to": compare_to or "",
                "source": source,
                "feature_set": FEATURE_SET,
                "features": ",".join(segmenter.scaler_.features_),
                "algorithm": segmenter.algorithm,
                "k_behavioural": len(segmenter.relabel_),
                "k": segmenter.n_clusters_,
                "n_customers": len(features),
                "seeds": ",".join(map(str, seeds)),
            }
        )
        mlflow.log_metrics(
            {"mean_ari": stability.mean_ari, "min_ari": stability.min_ari, "min_segment_share": min_share}
        )
        files = {
            "segments.csv": segments,
            "value_engagement.csv": grid_summary(grid, features),
            "stages.csv": assignments["stage"].value_counts().rename("customers").to_frame(),
            "lifetime_by_segment.csv": lifetimes.summary,
            **({"migration.csv": migration} if migration is not None else {}),
        }
        for name, frame in files.items():
            frame.to_csv(out / name)
        assignments.to_parquet(out / "assignments.parquet")
        (out / "segments.html").write_text(
            render(
                "segments.html",
                as_of=as_of,
                k=segmenter.n_clusters_,
                stability=stability.mean_ari,
                gate=decision.reason,
                cards=[segment_card(int(s), r) for s, r in segments.iterrows()],
                features=segmenter.scaler_.features_,
            ),
            encoding="utf-8",
        )
        (out / "lifetime_by_segment.png").write_bytes(plots.data_uri_bytes(lifetimes.plot))
        mlflow.log_artifacts(str(out), artifact_path="segments")
        info = mlflow.sklearn.log_model(
            segmenter,
            name="model",
            input_example=features.head(3),
            serialization_format="cloudpickle",  # skops refuses the cxml classes; the model is ours to load
            pip_requirements=pip_requirements(),
            code_paths=code_paths(),
        )
        version = registry.register(SEGMENTS_MODEL, info.model_uri, run.info.run_id, {"feature_set": FEATURE_SET})
        registry.apply_decision(SEGMENTS_MODEL, version, decision)
        mlflow.set_tags({"gate.passed": str(decision.passed), "gate.reason": decision.reason})
    log.info("%s v%s: %s", SEGMENTS_MODEL, version, decision.reason)
    return SegmentsResult(
        run.info.run_id,
        version,
        decision,
        int(segmenter.n_clusters_),
        stability.mean_ari,
        min_share,
        segments,
        assignments,
        migration,
        lifetimes.summary,
        out,
    )


@dataclass(frozen=True)
class SegmentLifetimes:
    curves: pd.DataFrame
    """``kaplan_meier`` per segment (one row per segment and observed time)."""
    summary: pd.DataFrame
    plot: str
    """The curves as a PNG ``data:`` URI."""


def segment_lifetimes(
    tables: dict[str, pd.DataFrame], as_of: str, segment: pd.Series, lapse_days: int = 90
) -> SegmentLifetimes:
    """How long customers of each segment stay: Kaplan–Meier over lifetimes from the first purchase to the first
    lapse of ``lapse_days`` (still-active customers censored at ``as_of``), from rows before ``as_of`` only."""

    lives = lifetime_labels(tables["orders"], tables["customers"], as_of, lapse_days=lapse_days)
    lives = lives.join(segment.rename("segment"), how="inner")
    curves = kaplan_meier(lives["duration"], lives["event"], group=lives["segment"].astype("str"))
    title = f"Customer lifetime by segment (lapse: {lapse_days} days without a purchase)"
    return SegmentLifetimes(curves, kaplan_meier_summary(curves), plots.kaplan_meier_plot(curves, title=title))
