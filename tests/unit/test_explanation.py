"""Explanations are ``shap.Explanation`` objects: shap's own plots take them, shap's TreeExplainer agrees with them,
and the reasons read them."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import shap
from sklearn.datasets import make_classification

from cxml.features.reasons import reasons_per_row, top_reasons
from cxml.models.churn import ChurnClassifier
from cxml.models.explanation import model_output, scale_of

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def churn():
    X, y = make_classification(1500, 6, n_informative=4, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)], index=[f"C{i:04d}" for i in range(1500)])
    frame["plan"] = np.where(X[:, 0] > 0, "annual", "monthly")  # a categorical the trees see as codes
    model = ChurnClassifier(algorithm="xgboost", n_estimators=150, early_stopping_rounds=151).fit(frame, y)
    return model, frame


def test_the_explanation_carries_raw_values_for_reading_and_codes_for_colouring(churn):
    model, frame = churn
    e = model.explain(frame.head(5))
    assert e.data.dtype == np.float64 and set(np.unique(e.data[:, -1])) <= {0.0, 1.0}
    assert list(e.display_data[:, -1]) == list(frame["plan"].head(5))
    assert list(e.instance_names) == list(frame.index[:5])
    assert scale_of(e) == "log-odds" and scale_of(e[0]) == "log-odds"


def test_shap_waterfall_takes_one_customer(churn):
    model, frame = churn
    for output in ("log-odds", "probability"):
        one = model.explain(frame.head(3), output=output)[1]
        ax = shap.plots.waterfall(one, max_display=8, show=False)
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert f"{frame['plan'].iloc[1]} = plan" in labels  # the raw value, not the code
        plt.close("all")
        assert one.base_values + one.values.sum() == pytest.approx(
            model_output(model.explain(frame.iloc[[1]], output=output))[0]
        )


def test_native_values_equal_shap_tree_explainer(churn):
    model, frame = churn
    ((booster, n_iter),) = model.boosters_
    rows = frame.head(200)
    matrix = model.encoder_.transform(rows)
    theirs = shap.TreeExplainer(booster).shap_values(matrix)
    assert n_iter == booster.num_boosted_rounds()
    np.testing.assert_allclose(model.explain(rows).values, theirs, atol=1e-4)


def test_probability_output_adds_up_to_the_served_probability(churn):
    model, frame = churn
    e = model.explain(frame.tail(50), output="probability")
    np.testing.assert_allclose(model_output(e), model.predict_proba(frame.tail(50))[:, 1], atol=1e-6)


def test_reasons_read_one_customer_of_the_explanation(churn):
    model, frame = churn
    e = model.explain(frame.head(1), output="probability")[0]
    reasons = top_reasons(e, k=3)
    biggest = int(np.argmax(np.abs(e.values)))
    assert reasons[0].feature == e.feature_names[biggest]
    assert reasons[0].contribution == pytest.approx(float(e.values[biggest]))
    assert [abs(r.contribution) for r in reasons] == sorted((abs(r.contribution) for r in reasons), reverse=True)
    plan = [r for r in top_reasons(e, k=7) if r.feature == "plan"]
    assert plan and plan[0].value == frame["plan"].iloc[0]


def test_reasons_of_a_batch_equal_each_row_read_alone(churn):
    """Batch scoring and /churn_batch read every row from the arrays (indexing costs ~25 ms a row)."""
    model, frame = churn
    e = model.explain(frame.head(40), output="probability")
    every = reasons_per_row(e, k=3)
    alone = [top_reasons(e[i], k=3) for i in range(40)]
    assert [[(r.feature, r.value, r.text) for r in rs] for rs in every] == [
        [(r.feature, r.value, r.text) for r in rs] for rs in alone
    ]
    with pytest.raises(ValueError, match="one row per customer"):
        reasons_per_row(e[0])


def test_reasons_refuse_a_batch():
    batch = shap.Explanation(np.zeros((2, 3)), base_values=np.zeros(2), feature_names=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"pass explanation\[i\]"):
        top_reasons(batch)


def test_an_unknown_output_scale_is_refused(churn):
    model, frame = churn
    with pytest.raises(ValueError, match="output must be"):
        model.explain(frame.head(1), output="odds")
