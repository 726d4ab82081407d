"""Optuna studies: TPE with fold-level pruning, early stopping inside each fit, resumable journal storage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from cxml.config import TuningConfig
from cxml.models.spec import ModelSpec, Targets, take

TrialLogger = Callable[[optuna.trial.FrozenTrial], None]


@dataclass(frozen=True)
class StudyResult:
    best_params: dict[str, Any]
    best_value: float
    best_metrics: dict[str, float]
    n_complete: int
    n_pruned: int
    study_name: str


def open_study(path: Path | None, name: str, *, seed: int, resume: bool, greater_is_better: bool) -> optuna.Study:
    """A study in a journal file (so a killed run resumes), or in memory when ``path`` is None.

    Without ``resume`` an existing study of the same name is discarded and started afresh.
    """
    storage: Any = None
    if path is not None:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        path.parent.mkdir(parents=True, exist_ok=True)
        storage = JournalStorage(JournalFileBackend(str(path)))
        if not resume and name in {s.study_name for s in optuna.get_all_study_summaries(storage)}:
            optuna.delete_study(study_name=name, storage=storage)
    return optuna.create_study(
        study_name=name,
        storage=storage,
        load_if_exists=True,
        direction="maximize" if greater_is_better else "minimize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=8),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0),
    )


def cross_validate(
    spec: ModelSpec,
    params: dict[str, Any],
    X: pd.DataFrame,
    y: Targets,
    folds: int,
    seed: int,
    trial: optuna.Trial | None = None,
) -> dict[str, float]:
    """Mean of ``spec.metrics`` over stratified folds; reports the running primary metric to ``trial``."""
    per_fold: list[dict[str, float]] = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for step, (tr, va) in enumerate(splitter.split(X, spec.stratify(y))):
        model = spec.fit(spec.build(params), X.iloc[tr], take(y, tr))
        per_fold.append(spec.metrics(take(y, va), spec.score(model, X.iloc[va])))
        if trial is not None:
            trial.report(float(np.mean([m[spec.primary_metric] for m in per_fold])), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
    return {k: float(np.mean([m[k] for m in per_fold])) for k in per_fold[0]}


def run_study(
    spec: ModelSpec,
    X: pd.DataFrame,
    y: Targets,
    cfg: TuningConfig,
    *,
    storage_path: Path | None,
    study_name: str,
    resume: bool = False,
    on_trial: TrialLogger | None = None,
    progress: bool = False,
    user_attrs: dict[str, Any] | None = None,
) -> StudyResult:
    """Tune ``spec`` by cross-validated primary metric until ``n_trials`` trials are finished or time runs out.

    On resume only the missing trials run; completed and pruned ones count. ``user_attrs`` are stored on the
    study before the first trial, so they survive a kill (e.g. the MLflow run to continue).
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(storage_path, study_name, seed=cfg.seed, resume=resume, greater_is_better=spec.greater_is_better)
    for key, value in (user_attrs or {}).items():
        study.set_user_attr(key, value)

    def objective(trial: optuna.Trial) -> float:
        params = {**spec.search_space(trial, cfg.algorithms), "n_jobs": cfg.n_jobs, "random_state": cfg.seed}
        metrics = cross_validate(spec, params, X, y, cfg.cv_folds, cfg.seed, trial)
        for key, value in metrics.items():
            trial.set_user_attr(key, value)
        return metrics[spec.primary_metric]

    def log_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if on_trial is not None:
            on_trial(trial)

    finished = [t for t in study.trials if t.state.is_finished()]
    remaining = max(cfg.n_trials - len(finished), 0)
    if remaining:
        study.optimize(
            objective,
            n_trials=remaining,
            timeout=cfg.timeout_s,
            callbacks=[log_trial],
            show_progress_bar=progress,
            catch=(),
        )
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise RuntimeError(f"study {study_name} has no completed trial")
    best = study.best_trial
    params = {**best.params, "n_jobs": cfg.n_jobs, "random_state": cfg.seed}
    return StudyResult(
        best_params=params,
        best_value=float(best.value),  # type: ignore[arg-type]
        best_metrics={k: float(v) for k, v in best.user_attrs.items()},
        n_complete=len(complete),
        n_pruned=len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.PRUNED,))),
        study_name=study_name,
    )
