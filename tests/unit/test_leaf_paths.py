"""The leaf-path TreeSHAP of a bag of boosters equals the boosters' own contributions, averaged, and adds up to the
bags' mean margin: for the three libraries (CatBoost's oblivious trees unfolded), every way a split sends missing
values and zeros, one-leaf trees, and the churn model's pickles from before the table existed."""

import pickle

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from cxml.models.boosting import BoosterParams, predict_margin, train_booster, tree_contributions
from cxml.models.churn import ChurnClassifier
from cxml.models.leaf_paths import LeafPaths

pytestmark = pytest.mark.unit


def _data(n: int = 1200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows with missing values and exact zeros in the columns the trees split on, so every default side is used."""
    X, y = make_classification(n, 6, n_informative=4, random_state=seed)
    rng = np.random.default_rng(seed)
    X[rng.random(X.shape) < 0.1] = np.nan
    X[rng.random(X.shape) < 0.1] = 0.0
    return X.astype(np.float32), y


def _probe_rows(X: np.ndarray) -> np.ndarray:
    """Real rows plus rows of all-missing, all-zero and almost-zero values (LightGBM's zero rule)."""
    return np.vstack([X[:150], np.full((1, 6), np.nan), np.zeros((1, 6)), np.full((1, 6), 1e-36)]).astype(np.float32)


def _bags(algorithm: str, X: np.ndarray, y: np.ndarray, k: int = 3) -> list[tuple[object, int]]:
    params = BoosterParams(algorithm=algorithm, n_estimators=40, early_stopping_rounds=41, max_depth=5)  # type: ignore[arg-type]
    half = len(y) // 2
    return [
        train_booster(
            params.__class__(**{**params.__dict__, "random_state": b}), X[:half], y[:half], X[half:], y[half:]
        )
        for b in range(k)
    ]


def _native_mean(bags: list[tuple[object, int]], X: np.ndarray) -> np.ndarray:
    return np.mean([tree_contributions(b, X, n) for b, n in bags], axis=0)


@pytest.mark.parametrize(("algorithm", "atol"), [("xgboost", 2e-6), ("lightgbm", 1e-10), ("catboost", 1e-8)])
def test_values_are_the_boosters_own_averaged_and_add_up_to_the_mean_margin(algorithm, atol):
    """XGBoost's own values are float32 (hence 2e-6); LightGBM's are float64 like ours; CatBoost's leaves get a
    cover of 1e-9 more than their weight (no empty parent), hence 1e-8."""
    X, y = _data()
    bags = _bags(algorithm, X, y)
    rows = _probe_rows(X)
    ours = LeafPaths.of_bags(bags).contributions(rows)
    np.testing.assert_allclose(ours, _native_mean(bags, rows), atol=atol)
    mean_margin = np.mean([predict_margin(b, rows, n) for b, n in bags], axis=0)
    np.testing.assert_allclose(ours.sum(axis=1), mean_margin, atol=atol)
    assert np.abs(ours[:, :-1]).max() > 0.1  # the rows are explained by something, not all base


def test_only_the_best_iterations_are_read():
    X, y = _data()
    booster, _ = _bags("xgboost", X, y, k=1)[0]
    rows = _probe_rows(X)
    ours = LeafPaths.of_bags([(booster, 7)]).contributions(rows)
    np.testing.assert_allclose(ours, tree_contributions(booster, rows, 7), atol=2e-6)
    assert not np.allclose(ours, tree_contributions(booster, rows, 40), atol=1e-3)


@pytest.mark.parametrize(
    ("missing", "missing_type"),
    [({"zero_as_missing": True}, 1), ({"use_missing": False}, 0), ({}, 2)],
    ids=["zero", "none", "nan"],
)
def test_every_lightgbm_missing_type_sends_rows_the_boosters_way(missing, missing_type):
    X, y = _data()
    params = {"objective": "binary", "num_leaves": 15, "verbosity": -1, "seed": 0, "num_threads": 1, **missing}
    booster = lgb.train(params, lgb.Dataset(X, label=y), num_boost_round=30)
    decisions = [
        line.split("=")[1].split()
        for line in booster.model_to_string().splitlines()
        if line.startswith("decision_type=")
    ]
    assert missing_type in {(int(d) >> 2) & 3 for tree in decisions for d in tree}  # the rule under test is used
    rows = _probe_rows(X)
    ours = LeafPaths.of_bags([(booster, 30)]).contributions(rows)
    np.testing.assert_allclose(ours, tree_contributions(booster, rows, 30), atol=1e-10)


def test_one_leaf_trees_are_all_base():
    X, y = _data(300)
    params = {"objective": "binary", "min_data_in_leaf": 1000, "verbosity": -1, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(X, label=y), num_boost_round=5)
    ours = LeafPaths.of_bags([(booster, 5)]).contributions(X[:10])
    assert np.all(ours[:, :-1] == 0.0)
    np.testing.assert_allclose(ours[:, -1], booster.predict(X[:10], raw_score=True), atol=1e-12)


def test_mixed_or_foreign_boosters_are_refused():
    X, y = _data(400)
    bags = _bags("xgboost", X, y, k=1) + _bags("lightgbm", X, y, k=1)
    with pytest.raises(ValueError, match="mix"):
        LeafPaths.of_bags(bags)
    with pytest.raises(TypeError, match="XGBoost, LightGBM and CatBoost"):
        LeafPaths.of_bags([(object(), 1)])


@pytest.fixture(scope="module")
def bagged_churn():
    X, y = make_classification(1500, 6, n_informative=4, random_state=1)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    frame["plan"] = np.where(X[:, 0] > 0, "annual", "monthly")
    frame.loc[frame.index[::9], "x2"] = np.nan
    model = ChurnClassifier(algorithm="xgboost", n_bags=3, n_estimators=60, early_stopping_rounds=10).fit(frame, y)
    return model, frame


def test_a_bagged_churn_explanation_adds_up_to_the_served_margin(bagged_churn):
    model, frame = bagged_churn
    rows = frame.tail(100)
    e = model.explain(rows)
    np.testing.assert_allclose(e.values.sum(axis=1) + e.base_values, model.raw_margin(rows), atol=2e-6)
    native = np.mean([tree_contributions(b, model.encoder_.transform(rows), n) for b, n in model.boosters_], axis=0)
    np.testing.assert_allclose(e.values, native[:, :-1], atol=2e-6)


def test_pickles_stay_small_and_models_pickled_before_the_table_explain(bagged_churn):
    """The table is rebuilt on first use, never stored: a model saved by an older cxml has none and explains."""
    model, frame = bagged_churn
    before = pickle.dumps(model)
    model.explain(frame.head(1))
    assert model._leaf_paths is not None
    after = pickle.dumps(model)
    assert len(after) == pytest.approx(len(before), rel=0.01)
    old = pickle.loads(before)
    assert old._leaf_paths is None
    np.testing.assert_array_equal(old.explain(frame.head(20)).values, model.explain(frame.head(20)).values)
    np.testing.assert_array_equal(old.predict_proba(frame.head(20)), model.predict_proba(frame.head(20)))


def test_catboost_rows_on_a_border_and_missing_go_catboost_s_way():
    """CatBoost compares float32(x) with its borders and sends NaN below every border (nan_mode Min): rows exactly
    on, just above and just below each border, and missing ones, land in the leaves its own prediction uses."""
    X, y = _data()
    bags = _bags("catboost", X, y, k=1)
    booster, n_iter = bags[0]
    borders = [(j, b) for j, f in enumerate(booster.get_borders().values()) for b in f[:5]]
    rows = np.repeat(np.nanmedian(X, axis=0)[None, :], 4 * len(borders), axis=0).astype(np.float64)
    for i, (j, b) in enumerate(borders):
        above = float(np.nextafter(np.float32(b), np.float32(np.inf)))
        rows[4 * i : 4 * i + 4, j] = [b, above, np.nextafter(b, -np.inf), np.nan]
    table = LeafPaths.of_bags(bags)
    assert 0 < len(table.leaf_value) < n_iter * 2**5  # the empty leaves (value 0) are left out of the table
    ours = table.contributions(rows)
    np.testing.assert_allclose(ours.sum(axis=1), predict_margin(booster, rows, n_iter), atol=1e-8)
    np.testing.assert_allclose(ours, tree_contributions(booster, rows, n_iter), atol=1e-8)


def test_a_bagged_catboost_churn_explanation_adds_up_to_the_served_margin_and_probability():
    X, y = make_classification(1200, 5, n_informative=3, random_state=2)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)])
    frame["plan"] = np.where(X[:, 1] > 0, "annual", "monthly")
    frame.loc[frame.index[::7], "x3"] = np.nan
    model = ChurnClassifier(algorithm="catboost", n_bags=2, n_estimators=80, linear_weight="auto").fit(frame, y)
    rows = frame.tail(60)
    e = model.explain(rows)
    np.testing.assert_allclose(e.values.sum(axis=1) + e.base_values, model.raw_margin(rows), atol=1e-8)
    p = model.explain(rows, output="probability")
    np.testing.assert_allclose(p.values.sum(axis=1) + p.base_values, model.predict_proba(rows)[:, 1], atol=1e-10)
    assert model.predict_record(rows.iloc[0].to_dict()) == pytest.approx(model.predict_proba(rows.head(1))[0, 1])
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(restored.explain(rows).values, e.values, atol=1e-12)
