"""``n_jobs=-1``: LightGBM and XGBoost on every core, one thread where the model would change; and the promise it
rests on: the boosters give the same model, bit for bit, at one thread and at two."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from sklearn.datasets import make_classification

from cxml.config import TuningConfig
from cxml.datasets import get_family
from cxml.models.boosting import BoosterParams, predict_margin, train_booster, xgboost_params
from cxml.models.catboost_booster import catboost_params
from cxml.models.demand import MonotoneDemandGBM
from cxml.models.recommenders import train_ranker
from cxml.models.survival_boost import SurvivalBooster
from cxml.threads import AUTO, THREADS_ENV, available_cores, booster_threads, pool_threads
from cxml.tuning import run_study

pytestmark = pytest.mark.unit


def test_auto_gives_the_boosters_every_core_and_the_other_pools_one(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    cores = available_cores()
    assert cores >= 1 and booster_threads(AUTO) == cores and pool_threads(AUTO) == 1
    monkeypatch.setenv(THREADS_ENV, "3")
    assert booster_threads(AUTO) == 3 and pool_threads(AUTO) == 1
    assert xgboost_params(BoosterParams(algorithm="xgboost", n_jobs=AUTO))["nthread"] == 3
    assert catboost_params(BoosterParams(algorithm="catboost", n_jobs=AUTO))["thread_count"] == 1
    # a positive count is that many threads everywhere, whatever the variable says
    assert booster_threads(4) == pool_threads(4) == 4
    assert catboost_params(BoosterParams(algorithm="catboost", n_jobs=4))["thread_count"] == 4


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_thread_variable_names_itself(monkeypatch, value):
    monkeypatch.setenv(THREADS_ENV, value)
    with pytest.raises(ValueError, match=f"{THREADS_ENV}='{value}'.*whole number"):
        booster_threads(AUTO)


def test_the_pipeline_default_is_auto_and_other_counts_are_refused():
    assert TuningConfig().n_jobs == AUTO
    assert TuningConfig(n_jobs=2).n_jobs == 2
    for bad in (0, -2):
        with pytest.raises(ValidationError, match="n_jobs must be -1"):
            TuningConfig(n_jobs=bad)


@pytest.fixture(scope="module")
def rows():
    """Enough rows that two threads both get work (LightGBM and XGBoost split the histograms by rows)."""
    X, y = make_classification(20_000, 20, n_informative=8, random_state=0)
    groups = np.repeat(np.arange(2_000), 10)
    valid = groups % 4 == 0
    return X.astype(np.float32), y.astype(float), groups, valid


@pytest.mark.parametrize("algorithm", ["lightgbm", "xgboost"])
def test_a_booster_is_the_same_at_one_and_two_threads(rows, algorithm):
    X, y, _, valid = rows
    margins = []
    for threads in (1, 2):
        p = BoosterParams(algorithm=algorithm, n_estimators=120, early_stopping_rounds=200, n_jobs=threads)
        booster, n_iter = train_booster(p, X[~valid], y[~valid], X[valid], y[valid])
        margins.append(predict_margin(booster, X[valid], n_iter))
    np.testing.assert_array_equal(margins[0], margins[1])


def test_the_ranker_is_the_same_at_one_and_two_threads(rows):
    X, y, groups, valid = rows
    margins = []
    for threads in (1, 2):
        p = BoosterParams(algorithm="lightgbm", n_estimators=60, early_stopping_rounds=200, n_jobs=threads)
        booster, n_iter = train_ranker(p, X[~valid], y[~valid], groups[~valid], X[valid], y[valid], groups[valid])
        margins.append(predict_margin(booster, X[valid], n_iter))
    np.testing.assert_array_equal(margins[0], margins[1])


def test_the_survival_and_demand_boosters_are_the_same_at_one_and_two_threads(rows):
    X = rows[0]
    rng = np.random.default_rng(0)
    duration = rng.exponential(10 * np.exp(-X[:, 0].clip(-3, 3)))
    event = (rng.random(len(X)) < 0.7).astype(int)
    cox = [SurvivalBooster(n_estimators=80, n_jobs=t).fit(X, duration, event).predict_risk(X) for t in (1, 2)]
    pd.testing.assert_series_equal(cox[0], cox[1], check_exact=True)
    frame = pd.DataFrame(X[:, :5], columns=list("abcde"))
    price = np.exp(rng.normal(size=len(X)) * 0.2)
    units = np.exp(1 + 0.3 * X[:, 1] - 1.5 * np.log(price) + rng.normal(size=len(X)) * 0.3)
    demand = [
        MonotoneDemandGBM(n_estimators=80, n_jobs=t).fit(frame, units, price=price).predict(frame, price=price)
        for t in (1, 2)
    ]
    np.testing.assert_array_equal(demand[0], demand[1])


def test_a_study_on_auto_threads_finds_what_one_thread_finds(monkeypatch):
    """Through the tuning path (its thread limits around the trials): same trials, same values, same best."""
    X, y = make_classification(3_000, 8, random_state=1)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(8)])
    results = []
    for n_jobs, cores in ((1, "1"), (AUTO, "2")):
        monkeypatch.setenv(THREADS_ENV, cores)
        cfg = TuningConfig(n_trials=3, cv_folds=2, algorithms=("lightgbm", "xgboost"), n_jobs=n_jobs)
        results.append(run_study(get_family("churn").spec, frame, y, cfg, storage=None, study_name="threads"))
    one, auto = results
    assert auto.best_value == one.best_value and auto.best_metrics == one.best_metrics
    assert {**auto.best_params, "n_jobs": 1} == one.best_params and auto.best_params["n_jobs"] == AUTO


def test_catboost_changes_with_its_threads_which_is_why_auto_keeps_it_at_one(rows):
    """The control that shows the check above can fail: CatBoost's model is not the same at two threads."""
    X, y, _, valid = rows
    margins = []
    for threads in (1, 2):
        p = BoosterParams(algorithm="catboost", n_estimators=60, early_stopping_rounds=200, n_jobs=threads)
        booster, n_iter = train_booster(p, X[~valid], y[~valid], X[valid], y[valid])
        margins.append(predict_margin(booster, X[valid], n_iter))
    assert not np.array_equal(margins[0], margins[1])
