"""Churn reasons precomputed for the served snapshot: looked up, they answer exactly as on demand; computed for
another snapshot, they are not used."""

import json
import logging
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from cxml.config import Workspace
from cxml.models.churn import ChurnClassifier
from cxml.serving import store
from cxml.serving.precomputed import MAX_REASONS, REASONS_ROWS, churn_reasons, fitting, with_churn_reasons
from cxml.serving.schemas import ChurnRequest, ServedModel
from cxml.serving.scoring import ChurnScorer, RequestError, load_churn_scorer

pytestmark = pytest.mark.unit

TAG = "cxml-snapshot:2024-06-30-abcd1234"


@pytest.fixture(scope="module")
def table():
    """Customers with a category and missing values of both kinds (a missing number, a missing category)."""
    X, y = make_classification(600, 12, n_informative=5, random_state=2)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(12)])
    frame["plan"] = np.where(frame["f0"] > 0, "gold", "basic")
    frame.loc[frame.index % 7 == 0, "plan"] = None
    frame.loc[frame.index % 5 == 0, "f3"] = np.nan
    frame.index = pd.Index([f"C{i:04d}" for i in range(len(frame))], name="customer_id")
    return frame, y


@pytest.fixture(scope="module")
def model(table):
    frame, y = table
    return ChurnClassifier(n_estimators=60, early_stopping_rounds=10).fit(frame, y)


def _served() -> ServedModel:
    return ServedModel(
        family="churn",
        bento_tag="cxml-churn:v1-abc",
        mlflow_model="cxml.churn",
        mlflow_version="1",
        mlflow_run_id="abc",
        features=[],
    )


@pytest.fixture(scope="module")
def scorers(table, model):
    """The same champion and snapshot (columns in another order than the model's) on demand and with lookups."""
    frame, _ = table
    snapshot = store.FeatureSnapshot(frame[frame.columns[::-1]], "2024-06-30", TAG)
    on_demand = ChurnScorer(model, _served(), snapshot)
    looked_up = ChurnScorer(model, _served(), snapshot)
    looked_up.precomputed = fitting(churn_reasons(model, snapshot), looked_up.snapshot, "test")
    assert looked_up.precomputed is not None
    return on_demand, looked_up


@pytest.mark.parametrize("top_k", [0, 1, 3, MAX_REASONS])
def test_looked_up_answers_are_the_on_demand_answers(table, scorers, top_k):
    frame, _ = table
    on_demand, looked_up = scorers
    with_missing = 0
    for cid in frame.index[:120]:
        request = ChurnRequest(customer_id=cid, top_k=top_k)
        expected = json.loads(on_demand.score(request).model_dump_json())  # as served: NaN is null
        got = json.loads(looked_up.score(request).model_dump_json())
        assert len(got["reasons"]) == len(expected["reasons"]) <= top_k
        assert got["probability"] == pytest.approx(expected["probability"], rel=1e-9, abs=1e-12)
        for mine, theirs in zip(got.pop("reasons"), expected.pop("reasons"), strict=True):
            assert mine["contribution"] == pytest.approx(theirs["contribution"], rel=1e-9, abs=1e-12)
            assert {k: v for k, v in mine.items() if k != "contribution"} == {
                k: v for k, v in theirs.items() if k != "contribution"
            }
            with_missing += mine["value"] is None
        assert {k: v for k, v in got.items() if k != "probability"} == {
            k: v for k, v in expected.items() if k != "probability"
        }
    if top_k == MAX_REASONS:
        assert with_missing > 0  # missing values (null in JSON) were among the reasons compared


def test_lookups_do_not_call_the_model(scorers):
    """The point of precomputing: the probability and reasons of a snapshot customer without the estimator."""
    _, looked_up = scorers
    broken = ChurnScorer(looked_up.estimator, _served(), looked_up.snapshot, precomputed=looked_up.precomputed)
    broken.estimator = None
    answer = broken.score(ChurnRequest(customer_id="C0001", top_k=3))
    assert len(answer.reasons) == 3 and 0 < answer.probability < 1


def test_feature_records_and_unknown_customers_are_still_handled_on_demand(table, scorers):
    frame, _ = table
    on_demand, looked_up = scorers
    record = {k: (None if pd.isna(v) else v) for k, v in frame.loc["C0002"].items()}
    for name in [k for k, v in record.items() if isinstance(v, float)]:  # not the snapshot's values
        record[name] = -record[name]
    request = ChurnRequest(features=record, top_k=3)
    assert looked_up.score(request).model_dump_json() == on_demand.score(request).model_dump_json()
    assert looked_up.score(request).probability != pytest.approx(
        looked_up.score(ChurnRequest(customer_id="C0002", top_k=0)).probability
    )
    with pytest.raises(RequestError) as err:
        looked_up.score(ChurnRequest(customer_id="nobody", top_k=3))
    assert err.value.status == 404


def test_reasons_for_another_snapshot_or_other_customers_are_not_used(table, model, caplog):
    frame, _ = table
    snapshot = store.FeatureSnapshot(frame, "2024-06-30", TAG).select(list(frame.columns))
    computed = churn_reasons(model, snapshot)
    other = store.FeatureSnapshot(frame, "2024-07-31", "cxml-snapshot:2024-07-31-00000000").select(list(frame.columns))
    fewer = store.FeatureSnapshot(frame.iloc[1:], "2024-06-30", TAG).select(list(frame.columns))
    with caplog.at_level(logging.WARNING, logger="cxml.serving.precomputed"):
        assert fitting(computed, other, "cxml-churn:v1-abc") is None
        assert fitting(computed, fewer, "cxml-churn:v1-abc") is None
    assert [r.getMessage() for r in caplog.records] == [
        "not using the precomputed reasons of cxml-churn:v1-abc (they were computed on snapshot "
        f"{TAG}, the served one is cxml-snapshot:2024-07-31-00000000): explaining on demand",
        "not using the precomputed reasons of cxml-churn:v1-abc (they hold 600 customers, the snapshot 599): "
        "explaining on demand",
    ]
    assert fitting(computed, snapshot, "cxml-churn:v1-abc") is not None


def test_precomputed_rows_hold_the_probability_and_top_reasons_in_snapshot_order(table, model):
    frame, _ = table
    snapshot = store.FeatureSnapshot(frame, "2024-06-30", TAG).select(list(model.encoder_.feature_names_in_))
    computed = churn_reasons(model, snapshot)
    assert list(computed.index) == list(frame.index)
    np.testing.assert_allclose(computed["probability"], model.predict_proba(frame)[:, 1], rtol=1e-9)
    phi = model.explain(frame, output="probability").values
    first = np.abs(phi).argmax(axis=1)
    np.testing.assert_array_equal(computed["feature_0"], first)
    np.testing.assert_allclose(computed["contribution_0"], phi[np.arange(len(frame)), first], rtol=1e-9)
    sizes = computed[[f"contribution_{i}" for i in range(MAX_REASONS)]].abs().to_numpy()
    assert (np.diff(sizes, axis=1) <= 1e-12).all()  # biggest first
    assert computed.attrs == {"snapshot": TAG, "features": list(model.encoder_.feature_names_in_)}


def test_the_champion_tag_changes_with_the_snapshot_its_reasons_are_for():
    rows = pd.DataFrame({"probability": [0.1, 0.2]}, index=["a", "b"])
    again = rows.copy()
    rows.attrs, again.attrs = {"snapshot": "cxml-snapshot:a"}, {"snapshot": "cxml-snapshot:b"}
    assert store._rows_digest(rows) != store._rows_digest(again)
    assert store._rows_digest(rows.copy()) == store._rows_digest(rows)


def test_the_served_scorer_loads_the_reasons_of_its_snapshot_only(tmp_path, table, model):
    """Through the real BentoML store: the reasons exported beside the champion for the served snapshot are
    used; the same champion served with another snapshot explains on demand."""
    import bentoml

    frame, _ = table
    ws = Workspace(tmp_path / "ws")
    models = store.model_store(ws)
    snapshot_tag = store.export_snapshot(ws, frame, "2024-06-30")
    other_tag = store.export_snapshot(ws, frame.assign(f1=frame["f1"] + 1), "2024-06-30")
    make_rows = with_churn_reasons(None, lambda: store.load_snapshot(models.get(snapshot_tag)))
    labels = {"family": "churn", "mlflow_model": "cxml.churn", "mlflow_version": "1", "mlflow_run_id": "abc"}
    with bentoml.models.create("cxml-churn:v1-abc", labels=labels, _model_store=models) as made:
        joblib.dump(model, made.path_of(store.ESTIMATOR_FILE))
        for name, rows in make_rows(model).items():
            rows.to_parquet(made.path_of(f"{name}.parquet"))
    champion = models.get("cxml-churn:v1-abc")
    assert [p.name for p in Path(champion.path).glob("*.parquet")] == [f"{REASONS_ROWS}.parquet"]
    served = load_churn_scorer(champion, models.get(snapshot_tag))
    assert served.precomputed is not None and served.precomputed.probability.shape == (len(frame),)
    assert load_churn_scorer(champion, models.get(other_tag)).precomputed is None
