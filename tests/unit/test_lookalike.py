from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from cxml.models.lookalike import (
    LookalikeScorer,
    evaluate_lookalike,
    run_lookalike_job,
    write_scored_list,
)

pytestmark = pytest.mark.unit

PLANTED = ["discount_share", "share_evening", "channel_share_app"]


def population(n: int = 2500, n_planted: int = 200, seed: int = 0) -> tuple[pd.DataFrame, pd.Index]:
    """Customers with 8 behaviours; a planted group buys on discount, in the evening, in the app."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "recency_days": rng.exponential(40, n),
            "orders_365d": rng.poisson(6, n),
            "spend_365d": rng.lognormal(6, 0.8, n),
            "web_events_30d": rng.poisson(3, n),
            "service_contacts_365d": rng.poisson(1, n),
            "discount_share": rng.beta(1, 8, n),
            "share_evening": rng.beta(3, 5, n),
            "channel_share_app": rng.beta(2, 5, n),
        },
        index=pd.Index([f"C{i:05d}" for i in range(n)], name="customer_id"),
    )
    planted = X.index[rng.choice(n, n_planted, replace=False)]
    X.loc[planted, "discount_share"] = rng.beta(8, 3, n_planted)
    X.loc[planted, "share_evening"] = rng.beta(8, 2, n_planted)
    X.loc[planted, "channel_share_app"] = rng.beta(8, 2, n_planted)
    return X, planted


@pytest.fixture(scope="module")
def data():
    return population()


@pytest.fixture(scope="module")
def evaluation(data):
    X, planted = data
    small = LookalikeScorer(n_bags=4, n_estimators=150)
    return evaluate_lookalike(X, planted, holdout_share=0.3, levels=(0.05, 0.1, 0.2), estimator=small)


@parametrize_with_checks(
    [LookalikeScorer(method="pu", n_bags=2, n_estimators=20), LookalikeScorer(method="knn", n_neighbors=3)]
)
def test_sklearn_contract(estimator, check):
    check(estimator)


@pytest.mark.parametrize("method", ["pu", "knn"])
def test_a_planted_cluster_is_recovered_far_above_random(evaluation, method):
    rows = evaluation[evaluation["method"] == method].set_index("level")
    assert rows.loc[0.1, "n_holdout"] == 60
    assert rows.loc[0.1, "random"] == pytest.approx(0.1, abs=0.002)
    assert rows.loc[0.1, "recall"] >= 0.6  # random: 0.1
    assert rows["recall"].is_monotonic_increasing


def test_a_seed_without_structure_is_not_recovered(data):
    X, _ = data
    random_seed = X.index[np.random.default_rng(5).choice(len(X), 200, replace=False)]
    ev = evaluate_lookalike(X, random_seed, levels=(0.1,), estimator=LookalikeScorer(n_bags=4, n_estimators=150))
    assert (ev["recall"] < 0.3).all()


def test_auto_keeps_the_better_method_and_expand_ranks_the_rest(data):
    X, planted = data
    model = LookalikeScorer(n_bags=4, n_estimators=150).fit(X, seed_ids=planted)
    ev = model.evaluation_.set_index("method")["recall"]
    assert model.method_ == ("knn" if ev["knn"] > ev["pu"] else "pu")
    top = model.expand(0.1)
    assert len(top) == int(np.ceil(0.1 * (len(X) - len(planted))))
    assert not top.index.isin(planted).any()
    assert top["similarity"].is_monotonic_decreasing and list(top["rank"]) == list(range(1, len(top) + 1))


@pytest.mark.parametrize("method", ["pu", "knn"])
def test_reasons_name_the_planted_behaviours_in_words(data, method):
    X, planted = data
    model = LookalikeScorer(method=method, n_bags=4, n_estimators=150).fit(X, seed_ids=planted)
    reasons = model.reasons(k=3)
    assert set(reasons["feature"]) == set(PLANTED)
    app = reasons.set_index("feature").loc["channel_share_app"]
    assert app["seed_value"] > 0.7 > app["population_value"]
    assert app["text"].endswith("of orders in the app)") and "(customers overall: " in app["text"]


@pytest.mark.parametrize("method", ["pu", "knn"])
def test_new_customers_like_the_seed_score_higher(data, method):
    X, planted = data
    model = LookalikeScorer(method=method, n_bags=4, n_estimators=150).fit(X, seed_ids=planted)
    alike = X.loc[planted[:50]].set_axis([f"N{i}" for i in range(50)])
    other = X.drop(planted).iloc[:50].set_axis([f"M{i}" for i in range(50)])
    s = model.similarity(pd.concat([alike, other]))
    assert s.iloc[:50].median() > s.iloc[50:].quantile(0.9)


def test_scores_do_not_depend_on_customer_ids(data):
    X, planted = data
    model = LookalikeScorer(method="pu", n_bags=3, n_estimators=100).fit(X, seed_ids=planted)
    renamed = X.set_axis([f"Z{i}" for i in range(len(X))])
    mapping = dict(zip(X.index, renamed.index, strict=True))
    again = clone(model).fit(renamed, seed_ids=[mapping[c] for c in planted])
    np.testing.assert_allclose(again.similarity().to_numpy(), model.similarity().to_numpy())


def test_auto_with_a_tiny_seed_uses_the_pu_model(data):
    X, planted = data
    model = LookalikeScorer(n_bags=2, n_estimators=50).fit(X, seed_ids=planted[:5])
    assert model.method_ == "pu" and model.evaluation_.empty and len(model.similarity()) == len(X) - 5


def test_seed_can_be_given_as_labels(data):
    X, planted = data
    y = X.index.isin(planted).astype(int)
    a = LookalikeScorer(method="knn").fit(X, y)
    b = LookalikeScorer(method="knn").fit(X, seed_ids=planted)
    pd.testing.assert_series_equal(a.similarity(), b.similarity())


def test_bad_seeds_are_refused_with_their_ids(data):
    X, _ = data
    with pytest.raises(ValueError, match=r"2 seed ids are not in the feature table, e.g. \['NOPE1', 'NOPE2'\]"):
        LookalikeScorer(method="knn").fit(X, seed_ids=["C00001", "NOPE1", "NOPE2"])
    with pytest.raises(ValueError, match="at least 2 customers"):
        LookalikeScorer(method="knn").fit(X, seed_ids=["C00001"])
    with pytest.raises(ValueError, match="method must be"):
        LookalikeScorer(method="cosine").fit(X, seed_ids=["C00001", "C00002"])  # type: ignore[arg-type]


def test_batch_job_writes_the_scored_list_atomically(data, tmp_path: Path):
    X, planted = data
    out = tmp_path / "lists" / "lookalikes.parquet"
    out.parent.mkdir()
    out.write_bytes(b"an older list")
    result = run_lookalike_job(X, planted, out, level=0.2, scorer=LookalikeScorer(method="knn"))
    scored = pd.read_parquet(out)
    assert result.path == out and result.method == "knn"
    assert list(scored.columns) == ["customer_id", "similarity", "rank", "selected", "method"]
    assert len(scored) == result.n_scored == len(X) - len(planted)
    assert scored["selected"].sum() == result.n_selected == int(np.ceil(0.2 * result.n_scored))
    assert scored["rank"].tolist() == list(range(1, len(scored) + 1))
    assert not scored["customer_id"].isin(planted).any()
    assert [p.name for p in out.parent.iterdir()] == ["lookalikes.parquet"]  # no temporary file left


def test_a_failed_write_leaves_the_old_list_and_no_temporary_file(tmp_path: Path):
    out = tmp_path / "lookalikes.parquet"
    out.write_bytes(b"old")
    bad = pd.DataFrame({"customer_id": ["A"], "similarity": [object()]})  # not writable as Parquet
    with pytest.raises(Exception):  # noqa: B017 - pyarrow's error type is its own business
        write_scored_list(bad, out)
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["lookalikes.parquet"]
