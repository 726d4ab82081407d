"""Optuna studies: TPE with fold-level pruning, early stopping inside each fit, resumable storage, parallel workers.

A study lives in a journal file in the workspace (one machine, resumable) or in a database given by URL
(``postgresql://…``: several machines, heartbeats). ``workers > 1`` runs that many processes on one study, each
with one booster thread; a process that dies leaves its trial to be retried (``RetryFailedTrialCallback`` on a
database, the parent's sweep on a journal), and the parent logs every finished trial as it sees it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import optuna
import pandas as pd
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from cxml.config import TuningConfig
from cxml.models.spec import ModelSpec, Targets, take
from cxml.threads import booster_threads, pool_threads

log = logging.getLogger(__name__)
WORKER_ATTR = "worker"
"""The trial's user attribute naming the process that ran it (``host:pid``), logged as a tag of its run."""
TrialLogger = Callable[[optuna.trial.FrozenTrial], None]


@dataclass(frozen=True)
class StudyResult:
    best_params: dict[str, Any]
    best_value: float
    best_metrics: dict[str, float]
    n_complete: int
    n_pruned: int
    study_name: str


Storage = Path | str | None
"""Where a study lives: a journal file path, a database URL (``postgresql://…``, ``sqlite:///…``) or memory."""

HEARTBEAT_S = 10
"""A database study's trials beat this often; one silent for two beats (its worker died) is failed and retried."""


def is_url(storage: Storage) -> bool:
    return isinstance(storage, str) and "://" in storage


def open_storage(storage: Storage) -> Any:
    """Optuna's storage object for ``storage``: a journal file, a database with heartbeats, or None (memory)."""
    if storage is None:
        return None
    if is_url(storage):
        from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

        return RDBStorage(
            str(storage),
            heartbeat_interval=HEARTBEAT_S,
            grace_period=2 * HEARTBEAT_S,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=2),
            engine_kwargs={"pool_pre_ping": True},
        )
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = Path(storage)
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def study_user_attr(storage: Storage, name: str, key: str) -> Any:
    """A user attribute of a stored study, or None when the study (or its journal file) does not exist."""
    if storage is None or (not is_url(storage) and not Path(storage).exists()):
        return None
    try:
        return optuna.load_study(study_name=name, storage=open_storage(storage)).user_attrs.get(key)
    except KeyError:
        return None


def _sampler(seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=8)


def open_study(storage: Storage, name: str, *, seed: int, resume: bool, greater_is_better: bool) -> optuna.Study:
    """A study in ``storage`` (so a killed run resumes), or in memory when it is None.

    Without ``resume`` an existing study of the same name is discarded and started afresh.
    """
    backend = open_storage(storage)
    if backend is not None and not resume and name in {s.study_name for s in optuna.get_all_study_summaries(backend)}:
        optuna.delete_study(study_name=name, storage=backend)
    return optuna.create_study(
        study_name=name,
        storage=backend,
        load_if_exists=True,
        direction="maximize" if greater_is_better else "minimize",
        sampler=_sampler(seed),
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


def _objective(spec: ModelSpec, X: pd.DataFrame, y: Targets, cfg: TuningConfig) -> Callable[[optuna.Trial], float]:
    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr(WORKER_ATTR, f"{socket.gethostname()}:{os.getpid()}")
        params = {**spec.search_space(trial, cfg.algorithms), "n_jobs": cfg.n_jobs, "random_state": cfg.seed}
        metrics = cross_validate(spec, params, X, y, cfg.cv_folds, cfg.seed, trial)
        for key, value in metrics.items():
            trial.set_user_attr(key, value)
        return metrics[spec.primary_metric]

    return objective


def _finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]


def _enough(n_trials: int) -> Callable[[optuna.Study, optuna.trial.FrozenTrial], None]:
    """Stop a worker once the study holds ``n_trials`` trials that are complete, pruned or still running in another
    worker, so the last trials are not started twice (a failed one is retried; a dead worker's is swept)."""
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.RUNNING)

    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if len(study.get_trials(deepcopy=False, states=done)) >= n_trials:
            study.stop()

    return callback


def tune_worker(payload: Path, storage: Storage, study_name: str, worker: int) -> None:
    """One worker process: load the training rows the parent wrote, join the study, tune until it is full.

    Each worker samples with its own seed (``seed + worker``) so workers do not propose the same trials.
    Also what ``cxml tune --worker`` runs on another machine that sees the same payload file and database."""
    with open(payload, "rb") as fh:
        spec, X, y, cfg = pickle.load(fh)  # written by this package's run_study, never user input
    n_trials = cfg.n_trials
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=open_storage(storage), sampler=_sampler(cfg.seed + worker))
    if not _missing(study, n_trials):
        return
    with threadpool_limits(limits=1):  # one thread in all: see _run_workers
        study.optimize(_objective(spec, X, y, cfg), timeout=cfg.timeout_s, callbacks=[_enough(n_trials)], catch=())


def join_study(storage: str, study_name: str, worker: int) -> int:
    """``cxml tune --worker``: one more worker on a study that ``cxml train --storage URL --workers N`` started.

    The training rows come from the payload file the starting machine wrote (its path is on the study), so this
    machine must see that folder (a shared workspace). Returns the number of trials the study holds after."""
    payload = study_user_attr(storage, study_name, "payload")
    if payload is None:
        raise ValueError(f"no study {study_name!r} with training rows in {storage}: `cxml train --storage` starts one")
    if not Path(payload).exists():
        raise ValueError(f"study {study_name!r} is finished or its rows ({payload}) are not visible from this machine")
    tune_worker(Path(payload), storage, study_name, worker)
    return len(_finished(optuna.load_study(study_name=study_name, storage=open_storage(storage))))


def _sweep_dead_trials(study: optuna.Study, requeue: bool) -> int:
    """After every worker has exited, a trial still RUNNING belongs to a dead one: fail it, and queue its
    parameters again when the study still needs trials (what the heartbeat does on a database while other workers
    are alive). Returns how many."""
    stale = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    for trial in stale:
        study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
        if requeue:
            study.enqueue_trial(trial.params, skip_if_exists=True)
    return len(stale)


def _missing(study: optuna.Study, n_trials: int) -> int:
    """How many trials the study still needs: complete and pruned ones count, failed ones are retried."""
    return max(n_trials - len([t for t in _finished(study) if t.state != optuna.trial.TrialState.FAIL]), 0)


def _run_workers(
    spec: ModelSpec,
    X: pd.DataFrame,
    y: Targets,
    cfg: TuningConfig,
    study: optuna.Study,
    storage: Storage,
    workers: int,
    log_new: Callable[[], None],
    payload_dir: Path,
) -> None:
    """This process and ``workers - 1`` spawned ones on the study (spawned: no booster thread pool is forked),
    each with one booster thread. This process tunes while the others start (importing cxml and reading the
    rows takes seconds), logs every finished trial, then waits for the others' last trials. A spawned worker that
    died leaves its trial failed, and queued again if the study still needs it."""
    payload = payload_dir / f"{study.study_name}.payload.pkl"
    payload_dir.mkdir(parents=True, exist_ok=True)
    single = cfg.model_copy(update={"n_jobs": 1})
    with open(payload, "wb") as fh:
        cloudpickle.dump((spec, X, y, single), fh)  # specs hold lambdas
    study.set_user_attr("payload", str(payload))
    context = multiprocessing.get_context("spawn")
    procs = [
        context.Process(target=tune_worker, args=(payload, storage, study.study_name, k), daemon=True)
        for k in range(1, workers)  # this process is worker 0, sampling with the study's own seed
    ]
    try:
        for proc in procs:
            proc.start()
        # One thread per worker in all, not only in the booster: the encoding and calibration's OpenMP and BLAS
        # pools otherwise add a quarter more CPU per trial, which two workers on two cores fight over.
        with threadpool_limits(limits=1):
            study.optimize(
                _objective(spec, X, y, single),
                timeout=cfg.timeout_s,
                callbacks=[_enough(cfg.n_trials), lambda study, trial: log_new()],
                catch=(),
            )
        while any(p.is_alive() for p in procs):
            time.sleep(0.2)
            log_new()
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            if proc.pid is not None:  # started
                proc.join()
    payload.unlink(missing_ok=True)
    codes = [p.exitcode for p in procs]
    if any(codes):
        swept = _sweep_dead_trials(study, requeue=_missing(study, cfg.n_trials) > 0)
        log.warning("tuning workers exited with %s; %d trial(s) they left were failed", codes, swept)


def run_study(
    spec: ModelSpec,
    X: pd.DataFrame,
    y: Targets,
    cfg: TuningConfig,
    *,
    storage: Storage,
    study_name: str,
    resume: bool = False,
    on_trial: TrialLogger | None = None,
    progress: bool = False,
    user_attrs: dict[str, Any] | None = None,
    workers: int = 1,
    payload_dir: Path | None = None,
) -> StudyResult:
    """Tune ``spec`` by cross-validated primary metric until ``n_trials`` trials are finished or time runs out.

    On resume only the missing trials run; completed and pruned ones count. ``user_attrs`` are stored on the
    study before the first trial, so they survive a kill (e.g. the MLflow run to continue). With ``workers > 1``
    (a journal file or a database is needed) that many processes tune at once; trials that a dead worker left
    are retried, and whatever is still missing when they are gone runs here. The workers read the training rows
    from a file in ``payload_dir`` (default: beside a journal file, else a temporary folder), removed at the end.
    """
    if workers > 1 and storage is None:
        raise ValueError("parallel tuning needs a study storage (a journal file or a database URL)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(storage, study_name, seed=cfg.seed, resume=resume, greater_is_better=spec.greater_is_better)
    for key, value in (user_attrs or {}).items():
        study.set_user_attr(key, value)
    if not study.get_trials(deepcopy=False):  # a resumed study has run (or queued) them already
        for params in spec.first_trials(cfg.algorithms):
            study.enqueue_trial(params)
    logged = {t.number for t in _finished(study)}  # a resumed study's earlier trials were logged by their run

    def log_new() -> None:
        for trial in _finished(study):
            if trial.number not in logged:
                logged.add(trial.number)
                if on_trial is not None:
                    on_trial(trial)

    if payload_dir is None:
        local = storage is not None and not is_url(storage)
        payload_dir = Path(str(storage)).parent if local else Path(tempfile.mkdtemp(prefix="cxml-tune-"))
    parallel = workers > 1 and _missing(study, cfg.n_trials) > 0
    if parallel:
        _run_workers(spec, X, y, cfg, study, storage, workers, log_new, payload_dir)
    remaining = _missing(study, cfg.n_trials)  # after workers: a trial a worker elsewhere left running
    if remaining:
        # BLAS keeps the pools' thread count; OpenMP gets the boosters' (XGBoost never runs more threads than the
        # OpenMP limit around it), and the pools whose results depend on threads set their own (models.threads)
        limits = {"blas": pool_threads(cfg.n_jobs), "openmp": booster_threads(cfg.n_jobs)}
        with threadpool_limits(limits=limits):
            study.optimize(
                _objective(spec, X, y, cfg),
                n_trials=remaining,
                timeout=cfg.timeout_s,
                callbacks=[lambda study, trial: log_new()],
                show_progress_bar=progress,
                catch=(),
            )
    log_new()
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise RuntimeError(f"study {study_name} has no completed trial")
    best = study.best_trial
    params = {**best.params, "n_jobs": cfg.n_jobs, "random_state": cfg.seed}
    return StudyResult(
        best_params=params,
        best_value=float(best.value),  # type: ignore[arg-type]
        best_metrics={k: float(v) for k, v in best.user_attrs.items() if k != WORKER_ATTR},
        n_complete=len(complete),
        n_pruned=len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.PRUNED,))),
        study_name=study_name,
    )
