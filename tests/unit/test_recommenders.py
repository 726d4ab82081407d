"""Cross-sell recommenders on a small generated shop with two customer tastes (cluster a and cluster b items)."""

import pickle

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import shap
from sklearn.base import clone

from cxml.evaluation.ranking import ranking_metrics
from cxml.features.affinity import build_cross_sell
from cxml.features.transactions import normalise_transactions
from cxml.models.boosting import tree_contributions
from cxml.models.recommenders import (
    RANK_CUTOFF,
    CoPurchaseRecommender,
    PerItemPropensity,
    PopularityRecommender,
    SharedPropensity,
    query_groups,
)

pytestmark = pytest.mark.unit

FAST = {"n_estimators": 150, "learning_rate": 0.1, "early_stopping_rounds": 20}


def _shop(n_customers: int = 500, seed: int = 0) -> pd.DataFrame:
    """Each customer prefers one cluster (85 % of purchases); within a cluster item k is bought ∝ 1 / (k + 1)."""
    rng = np.random.default_rng(seed)
    weights = 1 / np.arange(1, 7)
    rows = []
    for c in range(n_customers):
        taste = rng.integers(2)
        for day in np.sort(rng.choice(120, rng.poisson(6) + 1)):
            cluster = taste if rng.random() < 0.85 else 1 - taste
            k = rng.choice(6, p=weights / weights.sum())
            rows.append((f"c{c:04d}", f"{'ab'[cluster]}{k}", pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(day))))
    raw = pd.DataFrame(rows, columns=["customer", "item", "ts"])
    return normalise_transactions(raw, customer="customer", item="item", time="ts")[0]


@pytest.fixture(scope="module")
def data():
    return build_cross_sell(_shop(), "2024-03-31", lookback_days=90, horizon_days=30)


@pytest.fixture(scope="module")
def split(data):
    return data.subset(data.customers[::2]), data.subset(data.customers[1::2])


@pytest.fixture(scope="module")
def shared(split):
    train, _ = split
    return SharedPropensity(**FAST).fit(train.pairs, train.labels)


def _map(model, data, k=3):
    return ranking_metrics(model.score_matrix(data.pairs), data.relevance, data.owned, k=k)[f"map_at_{k}"]


def test_popularity_ranks_by_look_back_buyers_and_skips_owned(split):
    _, test = split
    model = PopularityRecommender().fit(test.pairs)
    np.testing.assert_array_equal(model.score_pairs(test.pairs), test.pairs["item_popularity"].to_numpy())
    top = model.recommend(test.pairs, k=3)
    assert top.groupby("customer_id")["rank"].apply(list).map(lambda r: r == list(range(1, len(r) + 1))).all()
    owned = test.pairs["owned"]
    assert not owned.loc[pd.MultiIndex.from_frame(top[["customer_id", "item"]])].any()
    assert top.groupby("customer_id").size().max() == 3


def test_label_popularity_is_the_training_purchase_rate(split):
    train, _ = split
    model = PopularityRecommender("labels").fit(train.pairs, train.labels)
    keep = ~train.pairs["owned"]
    expected = train.labels[keep].groupby(level="item").mean()
    assert model.rates_.to_dict() == pytest.approx(expected.to_dict())
    with pytest.raises(ValueError, match="labels"):
        PopularityRecommender("labels").fit(train.pairs)


def test_cosine_co_purchase_equals_the_affinity_feature(data):
    model = CoPurchaseRecommender().fit(data.pairs)
    np.testing.assert_allclose(model.score_pairs(data.pairs), data.pairs["copurchase_score"].to_numpy())
    pd.testing.assert_frame_equal(model.similarity_, data.similarity, check_names=False)
    conditional = CoPurchaseRecommender("conditional").fit(data.pairs)
    assert not np.allclose(conditional.score_pairs(data.pairs), model.score_pairs(data.pairs))


def test_both_models_beat_popularity_on_held_out_customers(split, shared):
    train, test = split
    popularity = _map(PopularityRecommender().fit(test.pairs), test)
    per_item = PerItemPropensity(**FAST).fit(train.pairs, train.labels)
    assert _map(shared, test) > popularity + 0.05
    assert _map(per_item, test) > popularity + 0.05


def test_probabilities_are_calibrated_on_new_customers(split, shared):
    _, test = split
    p = shared.predict_proba(test.pairs)
    assert p.shape == (len(test.pairs), 2) and np.allclose(p.sum(axis=1), 1)
    keep = ~test.pairs["owned"].to_numpy()
    observed = test.labels.to_numpy()[keep]
    assert abs(p[keep, 1].mean() - observed.mean()) < 0.03
    top_decile = p[keep, 1] >= np.quantile(p[keep, 1], 0.9)
    assert observed[top_decile].mean() > 2 * observed.mean()


def test_probability_matrix_is_customers_by_items(split, shared):
    _, test = split
    matrix = shared.predict_proba_matrix(test.subset(test.customers[:5]).pairs)
    assert list(matrix.index) == list(test.customers[:5]) and list(matrix.columns) == list(test.items)
    assert ((matrix >= 0) & (matrix <= 1)).all().all()


def test_contributions_add_up_to_the_probability(split, shared):
    _, test = split
    rows = test.pairs.iloc[:40]
    explanation = shared.explain(rows)
    assert explanation.output_names == "probability" and explanation.values.shape[0] == 40
    total = explanation.values.sum(axis=1) + explanation.base_values
    np.testing.assert_allclose(total, shared.predict_proba(rows)[:, 1], atol=1e-6)
    assert explanation.instance_names[0] == " ".join(map(str, rows.index[0]))
    assert shap.plots.waterfall(explanation[0], show=False).get_yticklabels()
    plt.close("all")


def test_recommendations_carry_probabilities_and_reasons_in_words(split, shared):
    _, test = split
    top = shared.recommend(test.subset(test.customers[:4]).pairs, k=2, n_reasons=2, item_names={"a0": "printer ink"})
    assert list(top.columns) == ["customer_id", "rank", "item", "probability", "reasons"]
    assert len(top) == 8 and top["probability"].between(0, 1).all()
    texts = [t for reasons in top["reasons"] for t in reasons]
    assert texts and all(isinstance(t, str) and "=" not in t for t in texts)
    reasons = shared.reasons(test.pairs.iloc[:20], k=3)
    assert all(r.contribution > 0 for rs in reasons for r in rs)


def test_per_item_models_for_frequent_items_and_the_pooled_fallback_for_the_rest(split):
    train, test = split
    model = PerItemPropensity(min_positives=17, **FAST).fit(train.pairs, train.labels)
    positives = train.labels[~train.pairs["owned"]].groupby(level="item").sum()
    assert set(model.models_) <= set(positives.index[positives >= 17])
    assert 0 < len(model.models_) < len(test.items)
    pooled_only = PerItemPropensity(min_positives=10**6, **FAST).fit(train.pairs, train.labels)
    twin = SharedPropensity(min_positives=10**6, **FAST).fit(train.pairs, train.labels)
    np.testing.assert_allclose(pooled_only.score_pairs(test.pairs), twin.score_pairs(test.pairs))
    explanation = model.explain(test.pairs.iloc[:24])
    np.testing.assert_allclose(
        explanation.values.sum(axis=1) + explanation.base_values,
        model.predict_proba(test.pairs.iloc[:24])[:, 1],
        atol=1e-6,
    )


def test_renaming_customers_changes_no_score(split, shared):
    _, test = split
    renamed = test.pairs.rename(index=lambda c: f"x-{c}", level="customer_id")
    np.testing.assert_allclose(shared.score_pairs(renamed), shared.score_pairs(test.pairs))


def test_bagging_and_isotonic_calibration(split):
    train, test = split
    model = SharedPropensity(n_bags=3, calibration="isotonic", **FAST).fit(train.pairs, train.labels)
    assert len(model.model_.boosters) == 3
    p = model.score_pairs(test.pairs)
    assert ((p >= 0) & (p <= 1)).all()


def test_estimator_contract(shared):
    for model in (shared, PerItemPropensity(min_positives=7)):
        params = model.get_params()
        assert params["min_positives"] == model.min_positives
        assert clone(model).get_params() == params
    assert not hasattr(clone(shared), "model_")


def test_bad_input_is_named(split):
    train, _ = split
    with pytest.raises(ValueError, match="0/1 label"):
        SharedPropensity().fit(train.pairs, np.full(len(train.pairs), 2))
    with pytest.raises(ValueError, match="owned"):
        SharedPropensity().fit(train.pairs.drop(columns="owned"), train.labels)
    with pytest.raises(ValueError, match="indexed by"):
        PopularityRecommender().fit(train.pairs.reset_index())
    with pytest.raises(ValueError, match="both bought"):
        SharedPropensity().fit(train.pairs, np.zeros(len(train.pairs)))


def test_bagged_pairs_are_explained_by_the_bags_own_values_and_pickle_without_the_table(split):
    """The bags' leaf-path TreeSHAP is their own mean TreeSHAP; the table it reads is rebuilt after a pickle."""
    train, test = split
    model = SharedPropensity(n_bags=3, **FAST).fit(train.pairs, train.labels)
    rows = test.pairs.iloc[:30]
    ((_, fitted, matrix, _),) = model._parts(rows)
    native = np.mean([tree_contributions(b, matrix, n) for b, n in fitted.boosters], axis=0)
    np.testing.assert_allclose(fitted.contributions(matrix), native, atol=2e-6)
    explanation = model.explain(rows)
    np.testing.assert_allclose(
        explanation.values.sum(axis=1) + explanation.base_values, model.predict_proba(rows)[:, 1], atol=1e-6
    )
    restored = pickle.loads(pickle.dumps(model))
    assert "_leaf_paths" not in restored._parts(rows)[0][1].__dict__
    np.testing.assert_array_equal(restored.explain(rows).values, explanation.values)


def test_query_groups_are_the_customers_runs():
    assert query_groups(np.array(["a", "a", "b", "c", "c", "c"])).tolist() == [2, 1, 3]
    assert query_groups(np.array([], dtype=str)).tolist() == []
    with pytest.raises(ValueError, match="customer-major"):
        query_groups(np.array(["a", "b", "a"]))


def test_lambdarank_ranks_by_customer_on_map_at_10_and_still_gives_probabilities(split):
    """One query group per training customer, early-stopped on the held-out customers' MAP@10 (shuffled within a
    customer: with tied scores in item-id order it stopped after one tree), calibrated after."""
    train, test = split
    model = SharedPropensity(algorithm="lightgbm", objective="lambdarank", **FAST).fit(train.pairs, train.labels)
    ((booster, n_iter),) = model.model_.boosters
    assert booster.params["objective"] == "lambdarank" and booster.params["metric"] == "map"
    assert booster.params["eval_at"] == [RANK_CUTOFF] and n_iter == 21
    assert booster.best_score["valid_0"]["map@10"] > 0.5
    ranked, popular = _map(model, test), _map(PopularityRecommender().fit(test.pairs), test)
    # this 250-customer shop has too few customers with a purchase for a ranker: the binary one ranks better (0.4706);
    # on the demo's 14,000 customers the ranker wins (bench/RESULTS.md #18), and the search chooses per data set
    assert ranked > popular + 0.05 and ranked == pytest.approx(0.4212, abs=1e-4)
    p = model.score_pairs(test.pairs)
    assert ((p > 0) & (p < 1)).all()
    positives = test.labels.to_numpy()[~test.pairs["owned"].to_numpy()]
    assert abs(p[~test.pairs["owned"].to_numpy()].mean() - positives.mean()) < 0.03  # Platt on the rank margin
    explanation = model.explain(test.pairs.iloc[:12])
    np.testing.assert_allclose(
        explanation.values.sum(axis=1) + explanation.base_values, p[:12], atol=1e-6
    )  # TreeSHAP of the ranker's margin, rescaled to the probability


def test_lambdarank_needs_lightgbm_and_a_shared_model(split):
    train, _ = split
    with pytest.raises(ValueError, match="needs algorithm 'lightgbm'"):
        SharedPropensity(objective="lambdarank", **FAST).fit(train.pairs, train.labels)
    with pytest.raises(ValueError, match="binary' only"):
        PerItemPropensity(algorithm="lightgbm", objective="lambdarank").fit(train.pairs, train.labels)
    with pytest.raises(ValueError, match="objective must be"):
        SharedPropensity(objective="poisson").fit(train.pairs, train.labels)
