import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from cxml.config import TuningConfig
from cxml.datasets import get_family
from cxml.tuning import run_study

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def xy():
    X, y = make_classification(600, 6, random_state=1)
    return pd.DataFrame(X, columns=list("abcdef")), y


class Interrupt(Exception):
    pass


def test_a_killed_study_resumes_where_it_stopped(tmp_path, xy):
    X, y = xy
    cfg = TuningConfig(n_trials=4, cv_folds=2, algorithms=("lightgbm",), n_jobs=1)
    path = tmp_path / "study.journal"

    def die_after_two(trial):
        if trial.number == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_study(get_family("churn").spec, X, y, cfg, storage=path, study_name="s", on_trial=die_after_two)
    seen = []
    result = run_study(
        get_family("churn").spec,
        X,
        y,
        cfg,
        storage=path,
        study_name="s",
        resume=True,
        on_trial=lambda t: seen.append(t.number),
    )
    assert seen == [2, 3]
    assert result.n_complete + result.n_pruned == 4


def test_without_resume_the_study_starts_afresh(tmp_path, xy):
    X, y = xy
    cfg = TuningConfig(n_trials=2, cv_folds=2, algorithms=("xgboost",), n_jobs=1)
    path = tmp_path / "study.journal"
    run_study(get_family("churn").spec, X, y, cfg, storage=path, study_name="s")
    seen = []
    run_study(
        get_family("churn").spec,
        X,
        y,
        cfg,
        storage=path,
        study_name="s",
        on_trial=lambda t: seen.append(t.number),
    )
    assert seen == [0, 1]


def test_same_seed_same_best_params(xy):
    X, y = xy
    cfg = TuningConfig(n_trials=3, cv_folds=2, n_jobs=1)
    a = run_study(get_family("churn").spec, X, y, cfg, storage=None, study_name="a")
    b = run_study(get_family("churn").spec, X, y, cfg, storage=None, study_name="b")
    assert a.best_params == b.best_params and a.best_value == b.best_value


def test_pruning_stops_bad_trials_early(xy):
    X, y = xy
    X = X.assign(noise=np.random.default_rng(0).random(len(X)))
    cfg = TuningConfig(n_trials=20, cv_folds=4, n_jobs=1)
    result = run_study(get_family("churn").spec, X, y, cfg, storage=None, study_name="p")
    assert result.n_pruned >= 1
    assert optuna.__version__.startswith("5.")


def test_a_fresh_churn_study_tries_catboost_s_defaults_first_and_a_resumed_one_not_again(tmp_path, xy):
    """The churn search starts from CatBoost's defaults when the pipeline allows CatBoost (a short search cut by
    its timeout still has them); the XGBoost/LightGBM-only pipelines are searched as before."""
    from cxml.models.churn import CATBOOST_DEFAULTS

    X, y = xy
    spec = get_family("churn").spec
    path = tmp_path / "study.journal"
    cfg = TuningConfig(n_trials=2, cv_folds=2, algorithms=("xgboost", "catboost"), n_jobs=1)
    run_study(spec, X, y, cfg, storage=path, study_name="s")
    study = optuna.load_study(
        study_name="s", storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    )
    assert study.trials[0].params == CATBOOST_DEFAULTS
    assert study.trials[0].state == optuna.trial.TrialState.COMPLETE
    run_study(spec, X, y, cfg.model_copy(update={"n_trials": 3}), storage=path, study_name="s", resume=True)
    assert sum(t.params == CATBOOST_DEFAULTS for t in study.trials) == 1
    assert len(study.trials) == 3
    assert spec.first_trials(("xgboost", "lightgbm")) == []
