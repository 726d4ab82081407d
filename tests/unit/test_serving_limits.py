"""Extreme numbers and nulls in a feature record: a 400 naming the field, or a valid score; never an overflow (a
500) or a null score. The record check, and a real CLV scorer with its RFM rules (the churn scorer's items and
table form: ``test_serving.py``)."""

from __future__ import annotations

import math

import pytest

from cxml.features.rfm_data import clv_rows
from cxml.models.clv import SPEC
from cxml.serving.family_scoring import FamilyScorer
from cxml.serving.schemas import ScoreRequest, ServedModel
from cxml.serving.scoring import MAX_MAGNITUDE, RequestError, check_record
from tests.unit.test_clv_spec import CAL_END, OBS_END, simulate

pytestmark = pytest.mark.unit
HUGE = [1e308, -1e308, 10**400, -(10**400), MAX_MAGNITUDE * 1.01]


@pytest.mark.parametrize("value", HUGE)
def test_a_number_beyond_the_sane_magnitude_is_named(value):
    errors = check_record({"recency_days": value, "b": 1}, ["recency_days", "b"], {}, ("features",))
    assert [(e.type, e.loc) for e in errors] == [("number_too_large", ["features", "recency_days"])]
    assert len(errors[0].msg) < 200  # 10**400 is not printed in full
    assert check_record({"recency_days": MAX_MAGNITUDE, "b": -MAX_MAGNITUDE}, ["recency_days", "b"], {}, ()) == []


@pytest.fixture(scope="module")
def clv():
    X, y, _ = clv_rows(
        simulate(n=400),
        customer="customer",
        time="ts",
        value="amount",
        calibration_end=CAL_END,
        observation_end=OBS_END,
    )
    model = SPEC.fit(SPEC.build({"kind": "pareto_nbd", "n_jobs": 1, **SPEC.refit_params}), X, y)
    served = ServedModel(
        family="clv",
        bento_tag="cxml-clv:v1-abc",
        mlflow_model="cxml.clv",
        mlflow_version="1",
        mlflow_run_id="abc",
        features=[str(c) for c in X.columns],
    )
    repeat = X[X["frequency"] > 1].iloc[0]
    record = {k: (None if v != v else float(v)) for k, v in repeat.items()}
    return FamilyScorer(model, served, None, family="clv"), record


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"frequency": None}, "frequency"),
        ({"monetary_value": None}, "monetary_value"),
        ({"frequency": 2.5}, "frequency"),
        ({"frequency": -1}, "frequency"),
        ({"recency": 1e4, "T": 10.0}, "recency"),
        ({"recency": -1.0}, "recency"),
        ({"T": 0}, "T"),
        ({"frequency": 0, "recency": 3.0}, "recency"),
        ({"monetary_value": 1e308}, "monetary_value"),
        ({"monetary_value": -5.0}, "monetary_value"),
        ({"recency": 10**400}, "recency"),
        ({"T": 1e308}, "T"),
    ],
)
def test_clv_record_breaking_the_rfm_rules_is_400_naming_the_field(clv, change, field):
    scorer, record = clv
    with pytest.raises(RequestError) as exc:
        scorer.score(ScoreRequest(features={**record, **change}))
    assert exc.value.status == 400
    assert [d.loc for d in exc.value.detail] == [["features", field]], exc.value.detail


@pytest.mark.parametrize(
    "change",
    [{}, {"monetary_value": MAX_MAGNITUDE}, {"T": MAX_MAGNITUDE, "recency": MAX_MAGNITUDE}, {"frequency": 1e6}],
)
def test_clv_record_at_the_edges_gets_a_finite_score(clv, change):
    scorer, record = clv
    response = scorer.score(ScoreRequest(features={**record, **change}))
    assert math.isfinite(response.score) and all(math.isfinite(v) for v in response.scores.values())
