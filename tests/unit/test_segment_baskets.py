"""Segments on baskets: category shares as log-ratios, non-buyers as their own group, outcomes with intervals."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from cxml.datasets.segments import basket_features
from cxml.evaluation.segment_outcomes import difference_interval, mean_interval, segment_outcomes, wilson
from cxml.models.scaling import BehaviourScaler
from cxml.models.segmentation import BehaviouralSegmenter, segment_columns

pytestmark = pytest.mark.unit
CATEGORIES = ("grocery", "apparel", "toys", "sports")


def baskets(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Three tastes (grocery, apparel + toys, sports) with their own basket sizes; 100 customers never bought."""
    rng = np.random.default_rng(seed)
    tastes = [(0.7, 0.1, 0.1, 0.1), (0.1, 0.45, 0.4, 0.05), (0.1, 0.1, 0.1, 0.7)]
    rows, truth = [], []
    for k, p in enumerate(tastes):
        for _ in range(300):
            counts = rng.multinomial(20, p) + 0.5
            rows.append([2.0 + k + rng.normal(0, 0.2), 1.0 + 0.2 * k + rng.normal(0, 0.03), *(counts / counts.sum())])
            truth.append(k)
    rows += [[np.nan] * (2 + len(CATEGORIES))] * 100
    truth += [3] * 100
    columns = ["lines_per_order", "units_per_line", *(f"category_share_{c}" for c in CATEGORIES)]
    frame = pd.DataFrame(rows, columns=columns, index=[f"C{i:04d}" for i in range(len(rows))])
    return frame.assign(spend_365d=np.where(frame["lines_per_order"].isna(), 0.0, 100.0)), np.asarray(truth)


def test_basket_columns_are_chosen_and_non_buyers_form_the_last_segment():
    X, truth = baskets()
    assert segment_columns(X) == ["lines_per_order", "units_per_line", *(f"category_share_{c}" for c in CATEGORIES)]
    model = BehaviouralSegmenter(k_range=(2, 5)).fit(X)
    assert model.idle_segment_ == model.n_clusters_ - 1 == 3
    assert (model.labels_[truth == 3] == 3).all() and (model.labels_[truth != 3] != 3).all()
    assert adjusted_rand_score(truth, model.labels_) > 0.95
    assert (model.predict(X) == model.labels_).all()
    described = model.describe()
    assert described.loc[3, "name"] == "non-buying customers"
    assert "of items from" in described.loc[0, "summary"] or "items per order" in described.loc[0, "summary"]


def test_category_shares_become_centred_log_ratios():
    X, _ = baskets()
    cols = [f"category_share_{c}" for c in CATEGORIES]
    scaler = BehaviourScaler(cols, clip=100).fit(X)
    filled = X[cols].fillna(X[cols].median())
    logs = np.log(filled + 0.001)
    expected = logs.sub(logs.mean(axis=1), axis=0)
    got = scaler.transform(X)
    for c in cols:  # the robust scaling of a log-ratio: (x − median) / IQR
        z = expected[c]
        q1, med, q3 = np.percentile(z, [25, 50, 75])
        np.testing.assert_allclose(got[c], (z - med) / (q3 - q1), rtol=1e-9, atol=1e-12)
    assert not any(scaler.log_[c] for c in cols)


def test_basket_features_from_order_lines_ignore_returns_and_the_future():
    orders = pd.DataFrame(
        {
            "customer_id": ["A", "A", "A", "B", "B", "A"],
            "order_id": ["o1", "o1", "o2", "o3", "o3", "o9"],
            "product_id": ["g", "t", "g", "t", "t", "t"],
            "quantity": [1, 3, 2, 1, 1, 5],
            "returned": [False, False, False, False, True, False],
            "ts": pd.to_datetime(["2025-03-01"] * 5 + ["2025-07-01"]),
        }
    )
    products = pd.DataFrame({"product_id": ["g", "t"], "category": ["grocery", "toys"]})
    f = basket_features({"orders": orders, "products": products}, "2025-06-01")
    assert f.loc["A", "lines_per_order"] == 1.5 and f.loc["B", "lines_per_order"] == 1.0
    assert f.loc["A", "units_per_line"] == 2.0
    # A: 2 grocery lines, 1 toys line, each + 0.5 → 2.5 / 4 and 1.5 / 4
    assert f.loc["A", "category_share_grocery"] == pytest.approx(2.5 / 4)
    assert f.loc["B", "category_share_toys"] == pytest.approx(1.5 / 2)


def test_intervals_hold_their_estimate_and_match_textbook_values():
    p, low, high = wilson(10, 100)
    assert p == 0.1 and low == pytest.approx(0.0552, abs=1e-4) and high == pytest.approx(0.1744, abs=1e-4)
    assert np.isnan(wilson(0, 0)[0])
    mean, low, high = mean_interval(np.arange(100.0))
    assert mean == 49.5 and low < 49.5 < high and high - low == pytest.approx(2 * 1.96 * 29.0 / 10, rel=0.2)
    diff, low, high = difference_interval(0.3, 400, 0.2, 400)
    assert diff == pytest.approx(0.1) and low == pytest.approx(0.1 - 1.96 * np.sqrt(0.21 / 400 + 0.16 / 400), rel=1e-3)


def test_segment_outcomes_per_segment():
    segment = pd.Series([0, 0, 0, 0, 1, 1], index=list("abcdef"))
    churned = pd.Series([1, 0, 0, 0, 1], index=list("abcde"))  # f was not at risk
    value = pd.Series([10.0, 20.0, 30.0, 40.0, 0.0, 0.0], index=list("abcdef"))
    responses = pd.DataFrame(
        {
            "customer_id": list("abcdab"),
            "treated": [True, True, False, False, True, False],
            "outcome": [1, 0, 0, 0, 1, 0],
        }
    )
    out = segment_outcomes(segment, churned, value, responses)
    assert out.loc[0, "churn_rate"] == 0.25 and out.loc[0, "churn_n"] == 4 and out.loc[1, "churn_n"] == 1
    assert out.loc[0, "value_mean"] == 25.0 and out.loc[0, "value_low"] <= 25.0 <= out.loc[0, "value_high"]
    assert out.loc[0, "treated_rate"] == pytest.approx(2 / 3) and out.loc[0, "control_rate"] == 0.0
    assert out.loc[0, "uplift"] == pytest.approx(2 / 3) and out.loc[0, "uplift_low"] < out.loc[0, "uplift"]
    assert out.loc[1, "treated_n"] == 0 and np.isnan(out.loc[1, "uplift"])
