import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from cxml.models.scaling import BehaviourScaler
from cxml.models.segmentation import BehaviouralSegmenter, grid_summary, value_engagement_grid

pytestmark = pytest.mark.unit

FEATURES = ["orders_365d", "spend_365d", "recency_days", "channel_share_app", "channel_share_store", "share_evening"]


def planted(n_per: tuple[int, ...] = (500, 300, 200), seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Three behaviours: frequent app buyers, store buyers of big baskets, lapsed evening buyers."""
    rng = np.random.default_rng(seed)
    centres = [
        # orders, spend, recency, app, store, evening
        (25, 2000, 5, 0.8, 0.1, 0.2),
        (8, 1500, 30, 0.1, 0.8, 0.5),
        (3, 400, 120, 0.4, 0.3, 0.8),
    ]
    parts, truth = [], []
    for k, (size, c) in enumerate(zip(n_per, centres, strict=True)):
        part = pd.DataFrame(
            {
                "orders_365d": rng.poisson(c[0], size),
                "spend_365d": c[1] * rng.lognormal(0, 0.2, size),
                "recency_days": c[2] * rng.lognormal(0, 0.2, size),
                "channel_share_app": np.clip(c[3] + rng.normal(0, 0.05, size), 0, 1),
                "channel_share_store": np.clip(c[4] + rng.normal(0, 0.05, size), 0, 1),
                "share_evening": np.clip(c[5] + rng.normal(0, 0.05, size), 0, 1),
            }
        )
        parts.append(part)
        truth += [k] * size
    frame = pd.concat(parts, ignore_index=True)
    frame.index = pd.Index([f"C{i:05d}" for i in range(len(frame))], name="customer_id")
    return frame, np.asarray(truth)


@pytest.fixture(scope="module")
def data():
    return planted()


@pytest.fixture(scope="module")
def fitted(data):
    X, _ = data
    return BehaviouralSegmenter(features=FEATURES, k_range=(2, 6)).fit(X)


@parametrize_with_checks([BehaviouralSegmenter(k_range=(2, 3), n_init=1), BehaviourScaler()])
def test_sklearn_contract(estimator, check):
    check(estimator)


def test_recovers_planted_segments_and_chooses_their_number(data, fitted):
    _, truth = data
    assert fitted.n_clusters_ == 3
    assert adjusted_rand_score(truth, fitted.labels_) > 0.95
    assert fitted.selection_.loc[3, "silhouette"] == fitted.selection_["silhouette"].max()


def test_segments_are_numbered_by_size_and_predict_matches_fit(data, fitted):
    X, _ = data
    sizes = np.bincount(fitted.labels_)
    assert list(sizes) == sorted(sizes, reverse=True)
    np.testing.assert_array_equal(fitted.predict(X), fitted.labels_)
    seg = fitted.segment(X.iloc[:5])
    assert list(seg.index) == list(X.index[:5]) and seg["segment_name"].notna().all()


def test_describe_names_each_segment_by_its_behaviour_in_words(fitted):
    d = fitted.describe()
    assert d["size"].sum() == 1000 and abs(d["share"].sum() - 1) < 1e-9
    assert d["name"].is_unique
    frequent_app = d.loc[0]  # the 500 frequent app buyers are the largest segment
    assert "app" in frequent_app["name"] or "frequent" in frequent_app["name"]
    assert any("of orders in the app (average" in t for t in frequent_app["traits"])
    lapsed = d.loc[2]
    assert any(w in lapsed["name"] for w in ("lapsed", "evening", "infrequent", "low-spend"))
    assert any("no purchase in" in t and "× the typical" in t for t in lapsed["traits"])


def test_describe_says_no_purchases_for_a_segment_without_orders():
    X, _ = planted((400, 300, 300), seed=3)
    X = X.copy()
    never = X.index[-300:]
    X.loc[never, ["recency_days", "channel_share_app", "channel_share_store", "share_evening"]] = np.nan
    X.loc[never, ["orders_365d", "spend_365d"]] = 0
    model = BehaviouralSegmenter(features=FEATURES, n_clusters=3).fit(X)
    d = model.describe()
    seg = int(pd.Series(model.labels_, index=X.index)[never].mode()[0])
    assert "non-buying" in d.loc[seg, "name"]
    assert any(t == "no purchases yet (100% of the segment, 30% overall)" for t in d.loc[seg, "traits"])


def test_stability_is_high_on_clear_structure(data):
    X, _ = data
    st = BehaviouralSegmenter(features=FEATURES, k_range=(2, 5), n_init=3).stability(X, seeds=(0, 1, 2))
    assert st.pairwise.shape == (3, 3) and np.allclose(np.diag(st.pairwise), 1)
    assert st.min_ari > 0.95 and set(st.n_clusters.values()) == {3}


def test_stability_is_low_without_structure():
    X = pd.DataFrame(np.random.default_rng(1).normal(size=(600, 4)), columns=list("abcd"))
    st = BehaviouralSegmenter(n_clusters=6, n_init=1).stability(X, seeds=(0, 1, 2))
    assert st.mean_ari < 0.9


def test_min_share_keeps_a_tiny_group_from_becoming_a_segment():
    X, _ = planted((600, 380, 20), seed=2)
    model = BehaviouralSegmenter(features=FEATURES, k_range=(2, 4), min_share=0.05).fit(X)
    assert np.bincount(model.labels_).min() / len(X) >= 0.05
    assert not model.selection_.loc[3, "feasible"]  # the 2 % group would be a segment of its own at k=3


def test_gaussian_mixture_chooses_k_by_bic(data):
    X, truth = data
    model = BehaviouralSegmenter(features=FEATURES, algorithm="gmm", k_range=(2, 5)).fit(X)
    feasible = model.selection_[model.selection_["feasible"]]
    assert model.n_clusters_ == feasible["bic"].idxmin() == 3
    assert adjusted_rand_score(truth, model.labels_) > 0.95


def test_scaler_logs_skewed_columns_fills_by_unit_and_clips():
    X = pd.DataFrame(
        {
            "orders_365d": [0, 1, 3, 10, 1000],
            "recency_days": [5.0, 10.0, np.nan, 40.0, 80.0],
            "channel_share_app": [0.1, np.nan, 0.5, 0.9, 0.5],
        }
    )
    scaler = BehaviourScaler(clip=3.0).fit(X)
    assert scaler.log_ == {"orders_365d": True, "recency_days": True, "channel_share_app": False}
    assert scaler.fill_ == {"orders_365d": 0.0, "recency_days": 80.0, "channel_share_app": 0.5}
    Z = scaler.transform(X)
    assert Z.loc[2, "orders_365d"] == pytest.approx(0.0)  # the median maps to 0
    assert Z["orders_365d"].max() == 3.0  # 1000 orders clipped
    assert Z.loc[2, "recency_days"] == Z.loc[4, "recency_days"]  # never = longest ago
    assert list(Z.index) == list(X.index) and not Z.isna().any().any()


def test_scaler_gives_an_array_the_same_values_as_its_frame():
    X = pd.DataFrame({"a": [0.0, 1.0, 3.0, 10.0, 1000.0], "b": [5.0, 10.0, np.nan, 40.0, 80.0]})
    by_frame = BehaviourScaler().fit(X).transform(X)
    by_array = BehaviourScaler().fit(X.to_numpy()).transform(X.to_numpy())
    assert isinstance(by_frame, pd.DataFrame) and isinstance(by_array, np.ndarray) and by_array.dtype == np.float64
    np.testing.assert_array_equal(by_array, by_frame.to_numpy())


def test_bad_input_names_the_column_and_rows():
    X = pd.DataFrame({"orders_365d": [1, 2, 3], "spend_365d": ["1.0", "oops", "2"]}, index=["A", "B", "C"])
    with pytest.raises(ValueError, match=r"'spend_365d' is not numeric.*\['B'\]"):
        BehaviouralSegmenter().fit(X)
    with pytest.raises(ValueError, match=r"missing feature column\(s\) \['recency_days'\]"):
        BehaviouralSegmenter(features=["orders_365d", "recency_days"]).fit(X)
    X_inf = pd.DataFrame({"orders_365d": [1.0, np.inf, 3.0]}, index=["A", "B", "C"])
    with pytest.raises(ValueError, match=r"'orders_365d' holds infinite values, e.g. rows \['B'\]"):
        BehaviourScaler().fit(X_inf)


def test_clone_round_trips_parameters():
    model = BehaviouralSegmenter(features=FEATURES, algorithm="gmm", k_range=(2, 9), random_state=7)
    assert clone(model).get_params() == model.get_params()


def test_value_engagement_grid_rules():
    n = 10
    X = pd.DataFrame(
        {
            "spend_365d": [900, 800, 700, 50, 40, 30, 20, 10, 0, 0],
            "orders_90d": [1, 0, 0, 1, 0, 0, 0, 0, 0, 0],
            "web_events_30d": [0, 5, 1, 0, 2, 0, 0, 0, 0, 1],
        },
        index=[f"C{i}" for i in range(n)],
    )
    grid = value_engagement_grid(X)
    assert grid["high_value"].tolist() == [True, True] + [False] * 8  # top 20 % = 2 of 10
    assert grid["engaged"].tolist() == [True, True, False, True, True, False, False, False, False, False]
    assert grid.loc["C0", "cell"] == "high value, engaged"
    assert grid.loc["C2", "cell"] == "other value, not engaged"
    summary = grid_summary(grid, X)
    assert summary["customers"].sum() == n
    assert summary.loc["high value, engaged", "mean_spend_365d"] == pytest.approx(850)


def test_value_grid_never_calls_zero_spend_high_value():
    X = pd.DataFrame({"spend_365d": [0.0] * 9 + [5.0], "orders_90d": 0, "web_events_30d": 0})
    assert value_engagement_grid(X)["high_value"].sum() == 1
