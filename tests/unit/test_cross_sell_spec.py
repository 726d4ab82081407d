"""The cross-sell ModelSpec: pair rows and targets, ranking metrics with the two-baseline rule, the customer
bootstrap, options, the bring-your-own transactions dataset and reasons per recommended item."""

from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.base import clone

from cxml.config import PipelineConfig, TrainRequest
from cxml.datasets.cross_sell import pair_rows, split_customers, table_dataset
from cxml.features.affinity import build_cross_sell
from cxml.features.transactions import normalise_transactions
from cxml.models.cross_sell import (
    FIRST_BOOSTER,
    SPEC,
    CrossSellBaselines,
    CrossSellPropensity,
    calibration_metrics,
    matrices,
    options,
)

pytestmark = pytest.mark.unit

FAST = {"n_estimators": 120, "learning_rate": 0.1, "early_stopping_rounds": 20}


def shop(n_customers: int = 400, seed: int = 0) -> pd.DataFrame:
    """Raw line items over 120 days from 2024-01-01: each customer prefers one of two item clusters (85 % of
    purchases); within a cluster item k is bought ∝ 1 / (k + 1), reversed from day 90 (a new season), so the
    look-back rankings go stale and the horizon's bestsellers are learnt from the training customers' labels."""
    rng = np.random.default_rng(seed)
    weights = 1 / np.arange(1, 7)
    rows = []
    for c in range(n_customers):
        taste = rng.integers(2)
        for day in np.sort(rng.choice(120, rng.poisson(6) + 1)):
            cluster = taste if rng.random() < 0.85 else 1 - taste
            k = rng.choice(6, p=(weights if day < 90 else weights[::-1]) / weights.sum())
            ts = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(day), hours=int(rng.integers(8, 18)))
            rows.append((f"c{c:04d}", f"{'ab'[cluster]}{k}", ts, int(rng.integers(1, 4))))
    return pd.DataFrame(rows, columns=["customer", "sku", "when", "qty"])


def shop_rows(seed: int = 0, fraction: float = 0.3):
    tx, _ = normalise_transactions(shop(seed=seed), customer="customer", item="sku", time="when", quantity="qty")
    data = build_cross_sell(tx, "2024-03-31", lookback_days=90, horizon_days=30, min_item_buyers=5)
    X, y = pair_rows(data)
    return split_customers(X, y, fraction, seed)


@pytest.fixture(scope="module")
def rows():
    return shop_rows()


@pytest.fixture(scope="module")
def model(rows):
    X_tr, _, y_tr, _ = rows
    return SPEC.fit(SPEC.build({"kind": "shared", **FAST}), X_tr, y_tr)


def _y(labels, owned, customers=("a", "a", "a", "b", "b", "b"), items=("x", "y", "z") * 2):
    return pd.DataFrame({"label": labels, "customer_id": list(customers), "item": list(items), "owned": owned})


def test_metrics_rank_items_per_customer_and_mask_owned():
    # a: z relevant, ranked 2nd after the owned x is masked → AP@5 = 1/2; b: y relevant, ranked 1st → AP = 1
    y = _y([0, 0, 1, 0, 1, 0], [True, False, False, False, False, False])
    score = np.array([0.9, 0.8, 0.7, 0.1, 0.5, 0.2])
    m = SPEC.metrics(y, score)
    assert m["map_at_5"] == pytest.approx(0.75)
    assert m["success_at_5"] == 1.0 and m["n_customers"] == 2
    assert m["precision_at_10"] == pytest.approx(0.1) and m["recall_at_10"] == 1.0
    assert {"brier", "ece"} <= m.keys()


def test_an_owned_purchase_is_never_relevant():
    y = _y([1, 0, 0, 0, 1, 0], [True, False, False, False, False, False])
    assert SPEC.metrics(y, np.arange(6.0))["n_customers"] == 1


def test_baseline_metrics_are_the_stronger_of_popularity_and_co_purchase_per_metric():
    y = _y([0, 0, 1, 0, 1, 0], [False] * 6)
    popularity = np.array([0.9, 0.1, 0.5, 0.9, 0.1, 0.5])  # a: z 2nd (AP 1/2); b: y 3rd (AP 1/3)
    co_purchase = np.array([0.1, 0.9, 0.5, 0.1, 0.9, 0.5])  # a: z 2nd (AP 1/2); b: y 1st (AP 1)
    m = SPEC.metrics(y, np.column_stack([popularity, co_purchase]))
    assert m["popularity:map_at_5"] == pytest.approx(5 / 12)
    assert m["co_purchase:map_at_5"] == pytest.approx(0.75)
    assert m["map_at_5"] == pytest.approx(0.75)


def test_baselines_score_the_look_back_columns(rows):
    X_tr, X_ho, y_tr, _ = rows
    baseline = SPEC.fit(SPEC.baseline(X_tr), X_tr, y_tr)
    scores = SPEC.score(baseline, X_ho)
    np.testing.assert_array_equal(scores[:, 0], X_ho["item_popularity"].to_numpy())
    np.testing.assert_array_equal(scores[:, 1], X_ho["copurchase_score"].to_numpy())
    with pytest.raises(ValueError, match="copurchase_score"):
        CrossSellBaselines().fit(X_tr.drop(columns="copurchase_score"))


def test_holdout_customers_are_disjoint_and_keep_all_their_pairs(rows):
    X_tr, X_ho, _, y_ho = rows
    assert not set(X_tr["customer_id"]) & set(X_ho["customer_id"])
    n_items = X_tr["item"].nunique()
    assert (X_ho.groupby("customer_id").size() == n_items).all()
    assert len(X_ho["customer_id"].unique()) == pytest.approx(0.3 * (len(X_ho) + len(X_tr)) / n_items, abs=1)
    assert (y_ho["customer_id"].to_numpy() == X_ho["customer_id"].to_numpy()).all()


def test_the_model_beats_both_baselines_with_calibrated_probabilities(rows, model):
    X_tr, X_ho, y_tr, y_ho = rows
    m = SPEC.metrics(y_ho, SPEC.score(model, X_ho))
    b = SPEC.metrics(y_ho, SPEC.score(SPEC.fit(SPEC.baseline(X_tr), X_tr, y_tr), X_ho))
    assert m["map_at_5"] > b["map_at_5"] + 0.05, (m, b)
    assert m["ece"] < 0.05
    p = SPEC.score(model, X_ho)
    keep = ~y_ho["owned"].to_numpy()
    assert p[keep].mean() == pytest.approx(y_ho["label"].to_numpy()[keep].mean(), abs=0.03)


def test_changing_customer_ids_does_not_change_scores(rows, model):
    _, X_ho, _, _ = rows
    renamed = X_ho.assign(customer_id="z" + X_ho["customer_id"])
    np.testing.assert_allclose(SPEC.score(model, renamed), SPEC.score(model, X_ho))


def test_interval_is_a_customer_bootstrap_around_the_value(rows, model):
    _, X_ho, _, y_ho = rows
    score = SPEC.score(model, X_ho)
    value = SPEC.metrics(y_ho, score)["map_at_10"]
    lo, hi = SPEC.interval(y_ho, score, "map_at_10", 0)
    assert lo < value < hi and hi - lo < 0.3
    with pytest.raises(ValueError, match="brier"):
        SPEC.interval(y_ho, score, "brier", 0)


def test_calibration_metrics_on_known_probabilities():
    y = _y([0, 1, 0, 1, 0, 0], [False] * 5 + [True])
    m = calibration_metrics(y, np.array([0.0, 1.0, 0.0, 1.0, 0.0, 0.9]))
    assert m == {"brier": 0.0, "ece": 0.0}


def test_matrices_leave_missing_pairs_unscored():
    y = _y([0, 1, 0], [False] * 3, customers=("a", "a", "b"), items=("x", "y", "x"))
    s, r, o = matrices(y, np.array([0.1, 0.2, 0.3]))
    assert np.isnan(s.loc["b", "y"]) and r.loc["a", "y"] == 1 and not o.to_numpy().any()


def test_search_space_explores_both_kinds_and_builds_estimators():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    kinds = set()
    for _ in range(12):
        trial = study.ask()
        params = SPEC.search_space(trial, ("xgboost", "lightgbm"))
        estimator = SPEC.build(params)
        assert isinstance(estimator, CrossSellPropensity) and estimator.kind == params["kind"]
        assert ("min_positives" in params) == (params["kind"] == "per_item")
        kinds.add(params["kind"])
        study.tell(trial, 0.0)
    assert kinds == {"shared", "per_item"}


def test_estimator_contract(rows):
    X_tr, _, y_tr, _ = rows
    estimator = CrossSellPropensity(kind="per_item", min_positives=10, **FAST)
    assert clone(estimator).get_params() == estimator.get_params()
    with pytest.raises(ValueError, match="kind"):
        CrossSellPropensity(kind="nearest").fit(X_tr, y_tr)
    with pytest.raises(ValueError, match="owned"):
        CrossSellPropensity().fit(X_tr.drop(columns="owned"), y_tr)


def test_per_item_models_are_fitted_for_frequent_items(rows):
    X_tr, X_ho, y_tr, _ = rows
    model = SPEC.fit(SPEC.build({"kind": "per_item", "min_positives": 10, **FAST}), X_tr, y_tr)
    assert len(model.model_.models_) >= 2
    p = SPEC.score(model, X_ho)
    assert ((p >= 0) & (p <= 1)).all()


def test_explain_row_gives_the_probability_and_reasons_in_words(rows, model):
    _, X_ho, _, _ = rows
    top = model.recommend(X_ho, k=1)
    best = top.iloc[0]
    row = X_ho.loc[(X_ho["customer_id"] == best["customer_id"]) & (X_ho["item"] == best["item"])]
    out = SPEC.explain_row(model, row, 3)
    assert out["score"] == pytest.approx(best["probability"])
    assert out["item"] == best["item"] and not out["owned"]
    assert 1 <= len(out["reasons"]) <= 3 and all(r["text"] and r["contribution"] > 0 for r in out["reasons"])


def test_options_are_validated():
    cfg = PipelineConfig(family="cross_sell", options={"level": "category", "horizon_days": 14})
    assert options(cfg).level == "category" and options(cfg).lookback_days is None
    assert options(PipelineConfig(family="cross_sell")).level == "product"
    with pytest.raises(ValueError, match="lookbak"):
        options(PipelineConfig(family="cross_sell", options={"lookbak_days": 30}))
    with pytest.raises(ValueError, match="level"):
        options(PipelineConfig(family="cross_sell", options={"level": "sku"}))


def _write_file(tmp_path: Path) -> Path:
    raw = shop(300, seed=1).rename(columns={"customer": "Customer", "sku": "Sku", "when": "Date", "qty": "Qty"})
    first = raw.iloc[0]
    extra = pd.DataFrame(
        {
            "Customer": [None, None, first["Customer"]],
            "Sku": ["a0", "b1", first["Sku"]],
            "Date": [first["Date"]] * 2 + [first["Date"] + pd.Timedelta(days=1)],
            "Qty": [1, 2, -first["Qty"]],  # two rows without a customer, one full return
        }
    )
    path = tmp_path / "My Shop.csv"
    pd.concat([raw, extra]).to_csv(path, index=False)
    return path


def test_bring_your_own_transactions(tmp_path):
    req = TrainRequest(
        family="cross_sell",
        transactions=_write_file(tmp_path),
        customer="Customer",
        item="Sku",
        time="Date",
        quantity="Qty",
    )
    cfg = PipelineConfig(family="cross_sell", options={"horizon_days": 21, "min_item_buyers": 5})
    data, notes = table_dataset(req, cfg)
    assert "2 rows without a customer dropped" in notes
    assert any("1 returns/cancellations removed" in n for n in notes)
    assert data.name == "my_shop" and data.as_of == "2024-04-09"  # last purchase on 2024-04-29: 21 days before
    assert {"customer_id", "item", "owned", "copurchase_score", "recency_days"} <= set(data.X_train.columns)
    assert list(data.y_train.columns) == ["label", "customer_id", "item", "owned"]
    assert 0.25 < data.X_holdout["customer_id"].nunique() / data.X_train["customer_id"].nunique() < 0.5


def test_bring_your_own_needs_the_item_column(tmp_path):
    req = TrainRequest(family="cross_sell", transactions=_write_file(tmp_path), customer="Customer", time="Date")
    with pytest.raises(ValueError, match="--item"):
        table_dataset(req, PipelineConfig(family="cross_sell"))
    req = TrainRequest(family="cross_sell", transactions=req.transactions, customer="Customer", item="SKU", time="Date")
    with pytest.raises(ValueError, match="SKU"):
        table_dataset(req, PipelineConfig(family="cross_sell"))


def test_item_pattern_filters_items(tmp_path):
    req = TrainRequest(
        family="cross_sell", transactions=_write_file(tmp_path), customer="Customer", item="Sku", time="Date"
    )
    cfg = PipelineConfig(family="cross_sell", options={"item_pattern": "a", "min_item_buyers": 5})
    data, notes = table_dataset(req, cfg)
    assert set(data.X_train["item"]) <= {f"a{k}" for k in range(6)}
    assert any("does not match 'a'" in n for n in notes)


def test_scorer_returns_top_k_with_reasons_and_pair_probabilities(rows, model):
    from cxml.serving.cross_sell_scoring import CrossSellScorer
    from cxml.serving.scoring import RequestError

    _, X_ho, _, _ = rows
    scorer = CrossSellScorer(model, X_ho, item_names={"a0": "printer ink"})
    customer = str(X_ho["customer_id"].iloc[0])
    top = scorer.top_k(customer, k=3)
    assert [i["rank"] for i in top["items"]] == [1, 2, 3]
    probabilities = [i["probability"] for i in top["items"]]
    assert probabilities == sorted(probabilities, reverse=True)
    own = X_ho.loc[X_ho["customer_id"] == customer]
    assert not set(own.loc[own["owned"], "item"]) & {i["item"] for i in top["items"]}
    assert all(i["reasons"] for i in top["items"])
    pair = scorer.pair(customer, top["items"][0]["item"])
    assert pair["probability"] == pytest.approx(top["items"][0]["probability"]) and not pair["owned"]
    with pytest.raises(RequestError, match="not in the cross-sell snapshot") as err:
        scorer.top_k("nobody")
    assert err.value.status == 404
    with pytest.raises(RequestError, match="item"):
        scorer.pair(customer, "zz")
    with pytest.raises(RequestError, match="top_k"):
        scorer.top_k(customer, k=0)


def test_returns_are_found_by_column_name_or_by_the_invoice_flag(tmp_path):
    from cxml.datasets.cross_sell import read_transactions
    from cxml.models.cross_sell import CrossSellOptions

    req = TrainRequest(
        family="cross_sell", transactions=_write_file(tmp_path), customer="Customer", item="Sku", time="Date"
    )
    _, notes, _ = read_transactions(req, CrossSellOptions())  # no --quantity: "Qty" is found by its name
    assert "column 'Qty' read as quantity (give --quantity to choose another)" in notes
    assert any("1 returns/cancellations removed" in n for n in notes)

    lines = pd.DataFrame(
        {
            "who": ["a", "a", "b", "b"],
            "what": ["x", "x", "y", "z"],
            "when": ["2024-01-01", "2024-01-05", "2024-01-02", "2024-01-03"],
            "ref": ["100", "C101", "102", "103"],  # C101 cancels a's x although its quantity is positive
        }
    )
    path = tmp_path / "lines.csv"
    lines.to_csv(path, index=False)
    req = TrainRequest(family="cross_sell", transactions=path, customer="who", item="what", time="when", invoice="ref")
    tx, notes, _ = read_transactions(req, CrossSellOptions())
    assert sorted(tx["item"]) == ["y", "z"] and not any("read as" in n for n in notes)


def test_the_search_offers_lambdarank_to_shared_lightgbm_only_and_starts_from_the_first_trial():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(40):
        trial = study.ask()
        params = SPEC.search_space(trial, ("xgboost", "lightgbm"))
        ranking = params["kind"] == "shared" and params["algorithm"] == "lightgbm"
        assert ("objective" in params) == ranking
        study.tell(trial, 0.0)
    assert {t.params.get("objective") for t in study.trials} == {None, "binary", "lambdarank"}
    (first,) = SPEC.first_trials(("xgboost", "lightgbm"))
    assert first == {
        **FIRST_BOOSTER,
        "kind": "shared",
        "algorithm": "lightgbm",
        "num_leaves": 15,
        "objective": "lambdarank",
    }
    assert SPEC.first_trials(("xgboost",)) == [{**FIRST_BOOSTER, "kind": "shared", "algorithm": "xgboost"}]
    assert SPEC.build(first).objective == "lambdarank"


def test_a_fresh_study_runs_the_first_trial_first_and_a_resumed_one_does_not_repeat_it(rows, tmp_path):
    """The tuner enqueues ``SPEC.first_trials`` into a new study only; its MAP@10 is the validation folds' mean."""
    from cxml.config import TuningConfig
    from cxml.tuning import open_study, run_study

    X_tr, _, y_tr, _ = rows
    cfg = TuningConfig(n_trials=1, cv_folds=2, algorithms=("lightgbm",), seed=0, timeout_s=600)
    journal = tmp_path / "study.journal"
    result = run_study(SPEC, X_tr, y_tr, cfg, storage=journal, study_name="xsell")
    (first,) = SPEC.first_trials(("lightgbm",))
    assert {k: v for k, v in result.best_params.items() if k in first} == first
    assert result.best_value == result.best_metrics["map_at_10"] == pytest.approx(0.6871, abs=1e-4)
    resumed = run_study(
        SPEC, X_tr, y_tr, cfg.model_copy(update={"n_trials": 2}), storage=journal, study_name="xsell", resume=True
    )
    trials = open_study(journal, "xsell", seed=0, resume=True, greater_is_better=True).trials
    assert resumed.n_complete == 2 and len(trials) == 2 and trials[1].params != trials[0].params


def test_the_history_days_option_bounds_the_history_features(tmp_path):
    """``options.history_days`` reaches the pairs: a week of history holds fewer orders than the whole file."""
    req = TrainRequest(
        family="cross_sell", transactions=_write_file(tmp_path), customer="Customer", item="Sku", time="Date"
    )
    window = {"horizon_days": 21, "min_item_buyers": 5}
    everything, _ = table_dataset(req, PipelineConfig(family="cross_sell", options=window))
    week, _ = table_dataset(req, PipelineConfig(family="cross_sell", options={**window, "history_days": 7}))
    total = everything.X_train["history_orders"].sum()
    assert 0 < week.X_train["history_orders"].sum() < total
    assert everything.X_train["taste_score"].between(0, 1).all()
    with pytest.raises(ValueError, match="history_days"):
        options(PipelineConfig(family="cross_sell", options={"history_days": 0}))
