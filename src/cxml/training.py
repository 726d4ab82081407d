"""The training pipeline every family shares: tune → refit → evaluate on holdout → log → register → gate."""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from cxml import registry, tracking
from cxml.config import PipelineConfig, Workspace
from cxml.evaluation.plots import data_uri_bytes
from cxml.json_lines import json_line
from cxml.models.spec import Dataset, ModelSpec, Targets
from cxml.progress import step
from cxml.pyfunc import log_estimator
from cxml.tuning import Storage, StudyResult, cross_validate, run_study, study_user_attr
from cxml.workspace_lock import command_line, describe, hold

log = logging.getLogger(__name__)

TRAIN_LOCK = "train.lock"
TRAIN_WAIT_S = 1800.0
"""How long a training waits for another one on the same workspace before it gives up (``cxml train --wait``)."""


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    model_name: str
    model_version: str
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    gate: registry.GateDecision
    champion_metrics: dict[str, float] | None = None
    cv_metrics: dict[str, float] = field(default_factory=dict)
    study: StudyResult | None = None
    made_champion: bool | None = None
    """Whether the version took the ``champion`` alias; a version that passed the gate does not when another
    ``cxml promote`` or rollback moved the champion while its gate ran (None: not recorded)."""
    params: dict[str, float | str] = field(default_factory=dict)
    """The fitted model's own parameters where it reports them (``fitted_params()``: CLV's BTYD r, alpha, a, b, …;
    price's nuisance choice and residual price variation), also logged as MLflow params ``fitted.<name>``."""
    data_params: dict[str, str] = field(default_factory=dict)
    """What the dataset chose from the data and why (``Dataset.params``), also MLflow params ``data.<name>``."""

    @property
    def decision(self) -> str:
        if not self.gate.passed:
            return "refused"
        return "passed, not made champion" if self.made_champion is False else "promoted"

    def to_json(self) -> str:
        return json_line(
            {
                "run_id": self.run_id,
                "model_name": self.model_name,
                "model_version": self.model_version,
                "metrics": self.metrics,
                "baseline_metrics": self.baseline_metrics,
                "champion_metrics": self.champion_metrics,
                "cv_metrics": self.cv_metrics,
                "params": self.params,
                "data": self.data_params,
                "gate": {
                    "decision": self.decision,
                    "reason": self.gate.reason,
                },
            }
        )


def _holdout_metrics(spec: ModelSpec, y: Targets, score: np.ndarray, seed: int) -> dict[str, float]:
    metrics = spec.metrics(y, score)
    lo, hi = spec.interval(y, score, spec.primary_metric, seed)
    return {**metrics, f"{spec.primary_metric}_ci_low": lo, f"{spec.primary_metric}_ci_high": hi}


def _parent_run_id(storage: Storage, study_name: str, resume: bool) -> str | None:
    """The MLflow run of an interrupted study, so ``--resume`` continues it instead of starting another."""
    return study_user_attr(storage, study_name, "mlflow_run_id") if resume else None


HOLDOUT_ARTIFACT = "holdout/holdout.parquet"
FIGURES_ARTIFACT = "figures"


def _score_columns(prefix: str, names: list[str], scores: np.ndarray) -> dict[str, np.ndarray]:
    """``__score__`` for one score; ``__score__:<arm>`` per column of several."""
    if scores.ndim == 1:
        return {f"__{prefix}__": scores}
    return {f"__{prefix}__:{name}": scores[:, i] for i, name in enumerate(names)}


def _log_holdout(
    spec: ModelSpec, data: Dataset, names: list[str], scores: np.ndarray, baseline_scores: np.ndarray, tmp: Path
) -> pd.DataFrame:
    """The holdout rows with targets, model and baseline scores, so reports re-derive every figure from the run."""
    targets = spec.target_columns(data.y_holdout).set_axis(data.X_holdout.index)
    frame = data.X_holdout.assign(
        **{str(k): v for k, v in targets.items()},
        **_score_columns("score", names, scores),
        **_score_columns("baseline_score", names, baseline_scores),
    )
    path = tmp / "holdout.parquet"
    frame.to_parquet(path, index=True)
    mlflow.log_artifact(str(path), artifact_path="holdout")
    return frame


def _log_figures(spec: ModelSpec, holdout: pd.DataFrame, tmp: Path) -> None:
    """The family's diagnostic plots of the holdout as PNG artifacts under ``figures/``."""
    if spec.figures is None:
        return

    folder = tmp / FIGURES_ARTIFACT
    folder.mkdir(exist_ok=True)
    for title, uri in spec.figures(holdout).items():
        (folder / f"{_slug(title)}.png").write_bytes(data_uri_bytes(uri))
    mlflow.log_artifacts(str(folder), artifact_path=FIGURES_ARTIFACT)


def _slug(title: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in title.lower()).strip("_")


def _champion_metrics(
    spec: ModelSpec, name: str, data: Dataset
) -> tuple[str | None, dict[str, float] | None, str | None]:
    """The current champion (its version) re-scored on this holdout (None without a champion), or why it could
    not be."""
    champion = registry.alias_version(name, registry.CHAMPION)
    if champion is None:
        return None, None, None
    try:
        scores = registry.score_version(name, champion, data.X_holdout)
    except Exception as exc:  # a schema mismatch surfaces as several MLflow/pandas exception types
        return champion, None, f"version {champion}: {type(exc).__name__}: {str(exc)[:200]}"
    metrics = spec.metrics(data.y_holdout, scores)
    mlflow.log_metrics({f"champion_{k}": v for k, v in metrics.items() if np.isfinite(v)})
    return champion, metrics, None


def _abandon(name: str, version: str, run_id: str, exc: BaseException) -> None:
    reason = f"run {run_id} failed before the gate decided: {type(exc).__name__}: {str(exc)[:200]}"
    try:
        registry.abandon(name, version, reason)
    except Exception:  # the original failure matters more; the next run marks the version instead
        log.exception("%s v%s: could not mark it abandoned", name, version)
    else:
        log.warning("%s v%s: %s; marked abandoned", name, version, reason)


def train(
    spec: ModelSpec,
    data: Dataset,
    cfg: PipelineConfig,
    ws: Workspace,
    *,
    resume: bool = False,
    progress: bool = False,
    cv_report_folds: int | None = None,
    model_name: str | None = None,
    wait: float | None = TRAIN_WAIT_S,
    storage: str | None = None,
    workers: int = 1,
) -> TrainResult:
    """Run one training pipeline; nothing is promoted unless the gate passes at the very end.

    ``model_name`` defaults to ``cxml.<family>``; tables brought by the user register under their own name
    so they never compete with (or replace) the model served on the contract features.

    One training at a time per workspace: while another holds the workspace's train lock this one says so and
    waits up to ``wait`` seconds (0: refuses at once; None: for ever), then raises ``WorkspaceBusy`` before it
    has started a run. Versions of the model that a dead run left ``pending`` are marked ``abandoned`` first.

    ``storage``: the Optuna study's database URL (default: a journal file in the workspace); ``workers``: tuning
    processes on that study (``tuning.run_study``).
    """
    name = model_name or spec.registered_name
    lock = ws.root / TRAIN_LOCK

    def waiting(holder: dict[str, object] | None) -> None:
        limit = "for ever" if wait is None else f"up to {wait:g} s"
        log.warning("%s is busy: waiting %s for the other training run (%s)", ws.root, limit, describe(holder))

    with hold(lock, what=command_line(), timeout=wait, on_wait=waiting), tracking.using(ws):
        for note in registry.abandon_dead_pending(name):
            log.warning("%s", note)
        return _train(spec, data, cfg, ws, name, resume, progress, cv_report_folds, storage, workers)


def _train(
    spec: ModelSpec,
    data: Dataset,
    cfg: PipelineConfig,
    ws: Workspace,
    name: str,
    resume: bool,
    progress: bool,
    cv_report_folds: int | None,
    storage: str | None = None,
    workers: int = 1,
) -> TrainResult:
    experiment_id = tracking.ensure_experiment(spec.experiment, ws)
    digest = tracking.frame_digest(data.X_train, data.y_train, data.X_holdout, data.y_holdout)
    study_name = f"{spec.family}-{digest}"
    study_storage: Storage = storage or ws.studies / f"{study_name}.journal"
    run_id = _parent_run_id(study_storage, study_name, resume)
    if resume:
        found = f"continuing run {run_id} of study {study_name}" if run_id else f"no interrupted study {study_name}"
        log.info("resume: %s", found + ("" if run_id else "; starting afresh"))
    with mlflow.start_run(
        run_id=run_id, experiment_id=experiment_id, run_name=None if run_id else f"{spec.family}-{data.name}"
    ) as run:
        run_id = run.info.run_id
        if not resume or not run.data.params:
            mlflow.log_params({**data.summary, "config": cfg.model_dump_json(), "study": study_name})
            mlflow.set_tags(
                {
                    "cxml.family": spec.family,
                    "cxml.git_commit": tracking.git_commit(),
                    "cxml.feature_set": data.feature_set,
                    "cxml.dataset_digest": digest,
                    **data.tags,
                }
            )
            tracking.log_dataset(
                data.X_train,
                spec.target_columns(data.y_train),
                name=f"{data.name}-train",
                source=data.source,
                context="training",
            )
            tracking.log_dataset(
                data.X_holdout,
                spec.target_columns(data.y_holdout),
                name=f"{data.name}-holdout",
                source=data.source,
                context="holdout",
            )
        log.info("tuning %s: %d trials, study %s", spec.family, cfg.tuning.n_trials, study_name)
        study = run_study(
            spec,
            data.X_train,
            data.y_train,
            cfg.tuning,
            storage=study_storage,
            workers=workers,
            payload_dir=ws.studies,
            study_name=study_name,
            resume=resume,
            progress=progress,
            on_trial=lambda t: tracking.log_trial(t, run_id, experiment_id),
            user_attrs={"mlflow_run_id": run_id},
        )
        final_params = {**study.best_params, **spec.refit_params}
        cv_metrics = {}
        if cv_report_folds:
            # fresh folds (seed + 1): the best trial's own CV score is optimistic, being the maximum over trials
            with step(f"cross-validating the best trial on {cv_report_folds} fresh folds"):
                cv_metrics = cross_validate(
                    spec, final_params, data.X_train, data.y_train, cv_report_folds, cfg.tuning.seed + 1
                )
        with step(f"refitting the best trial on {len(data.X_train):,} training rows"):
            estimator = spec.fit(spec.build(final_params), data.X_train, data.y_train)
            estimator = _fit_label_free(estimator, data)
        fitted = _fitted_params(estimator)
        scores = spec.score(estimator, data.X_holdout)
        metrics = _holdout_metrics(spec, data.y_holdout, scores, cfg.tuning.seed)
        baseline = spec.fit(spec.baseline(data.X_train), data.X_train, data.y_train)
        baseline_scores = spec.score(baseline, data.X_holdout)
        baseline_metrics = _holdout_metrics(spec, data.y_holdout, baseline_scores, cfg.tuning.seed)
        mlflow.log_params({f"best_{k}": v for k, v in final_params.items()})
        mlflow.log_params({f"fitted.{k}": v for k, v in fitted.items()})
        mlflow.log_metrics(
            {
                **{f"holdout_{k}": v for k, v in metrics.items() if np.isfinite(v)},
                **{f"baseline_{k}": v for k, v in baseline_metrics.items() if np.isfinite(v)},
                **{f"cv_{k}": v for k, v in cv_metrics.items() if np.isfinite(v)},
                "n_trials_complete": study.n_complete,
                "n_trials_pruned": study.n_pruned,
            }
        )
        with tempfile.TemporaryDirectory() as tmp:
            info = log_estimator(estimator, spec.family, data.X_holdout, Path(tmp))
            holdout = _log_holdout(spec, data, spec.score_columns(estimator), scores, baseline_scores, Path(tmp))
            _log_figures(spec, holdout, Path(tmp))
        version = registry.register(
            name, info.model_uri, run_id, {"feature_set": data.feature_set, "dataset_digest": digest}
        )
        try:
            champion, champion_metrics, champion_error = _champion_metrics(spec, name, data)
            decision = registry.decide(
                spec, cfg.gate, metrics, baseline_metrics, champion_metrics, champion_error, fitted=fitted
            )
            made_champion = registry.apply_decision(name, version, decision, champion_seen=champion)
            if decision.passed and not made_champion:  # the reason the version carries says why and what to run
                reason = tracking.client().get_model_version(name, version).tags.get("gate_reason", decision.reason)
                decision = dataclasses.replace(decision, reason=reason)
        except BaseException as exc:  # never leave the version pending: it is not promotable, and says why
            _abandon(name, version, run_id, exc)
            raise
        mlflow.set_tags(
            {
                "gate.passed": str(decision.passed),
                "gate.reason": decision.reason,
                "cxml.model_version": version,
            }
        )
        log.info("%s v%s: %s", name, version, decision.reason)
    return TrainResult(
        run_id,
        name,
        version,
        metrics,
        baseline_metrics,
        decision,
        champion_metrics,
        cv_metrics,
        study,
        made_champion,
        fitted,
        data.params,
    )


def _fit_label_free(estimator: object, data: Dataset) -> object:
    """Let an estimator refit the parts that read no target (``fit_label_free``: CLV's BTYD likelihoods) on the
    features of every row, holdout included; the holdout's targets are never passed."""
    refit = getattr(estimator, "fit_label_free", None)
    return refit(pd.concat([data.X_train, data.X_holdout])) if callable(refit) else estimator


def _fitted_params(estimator: object) -> dict[str, float | str]:
    """The estimator's ``fitted_params()`` (empty for families that report none)."""
    report = getattr(estimator, "fitted_params", None)
    return dict(report()) if callable(report) else {}
