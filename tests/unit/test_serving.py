"""The serving helpers without HTTP: manifest, snapshot lookup, record checks, scoring."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from cxml.models.churn import ChurnClassifier
from cxml.serving.schemas import ChurnRequest, ServedModel
from cxml.serving.scoring import ChurnScorer, RequestError, check_record
from cxml.serving.store import FeatureSnapshot, read_manifest, write_manifest

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def table():
    X, y = make_classification(400, 5, n_informative=3, random_state=1)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    frame["plan"] = np.where(frame["f0"] > 0, "gold", "basic")
    frame.index = [f"C{i:04d}" for i in range(len(frame))]
    return frame, y


@pytest.fixture(scope="module")
def scorer(table):
    frame, y = table
    model = ChurnClassifier(n_estimators=40, early_stopping_rounds=10).fit(frame, y)
    served = ServedModel(
        family="churn",
        bento_tag="cxml-churn:v1-abc",
        mlflow_model="cxml.churn",
        mlflow_version="1",
        mlflow_run_id="abc",
        features=list(frame.columns),
    )
    snapshot = FeatureSnapshot(frame[frame.columns[::-1]], "2024-06-30", "cxml-snapshot:2024-06-30-x")
    return ChurnScorer(model, served, snapshot)


def _record(frame, cid):
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in frame.loc[cid].items()}


def test_manifest_round_trips_and_replaces_atomically(tmp_path):
    path = tmp_path / "models" / "served.json"
    write_manifest(path, {"churn": "cxml-churn:v1-abc"})
    write_manifest(path, {"churn": "cxml-churn:v2-def", "snapshot": "cxml-snapshot:2024-06-30-0a1b"})
    assert read_manifest(path) == {"churn": "cxml-churn:v2-def", "snapshot": "cxml-snapshot:2024-06-30-0a1b"}
    assert [p.name for p in path.parent.iterdir()] == ["served.json"]


@pytest.mark.parametrize("tag", ["cxml-churn", "cxml-churn:latest", "cxml-churn:"])
def test_manifest_refuses_floating_tags(tmp_path, tag):
    with pytest.raises(ValueError, match="exact tag"):
        write_manifest(tmp_path / "served.json", {"churn": tag})
    (tmp_path / "hand.json").write_text(json.dumps({"churn": tag}))
    with pytest.raises(ValueError, match="churn"):
        read_manifest(tmp_path / "hand.json")


def test_manifest_without_a_required_entry_names_it(tmp_path):
    write_manifest(tmp_path / "served.json", {"snapshot": "cxml-snapshot:2024-06-30-0a1b"})
    with pytest.raises(ValueError, match="churn"):
        read_manifest(tmp_path / "served.json", required=("churn",))


def test_missing_manifest_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"served\.json"):
        read_manifest(tmp_path / "served.json")


def test_snapshot_lookup_follows_the_requested_column_order(table):
    frame, _ = table
    snap = FeatureSnapshot(frame, "2024-06-30").select(["plan", "f1"])
    assert snap.record("C0003") == {"plan": frame.loc["C0003", "plan"], "f1": frame.loc["C0003", "f1"]}
    assert snap.record("nobody") is None
    assert len(snap) == len(frame)


def test_snapshot_record_keeps_values_and_missing_values():
    frame = pd.DataFrame(
        {
            "n": [1.5, np.nan],
            "k": pd.array([3, None], dtype="Int64"),
            "b": [True, False],
            "c": ["gold", None],
        },
        index=["A", "B"],
    )
    snap = FeatureSnapshot(frame, "2024-06-30")
    assert snap.record("A") == {"n": 1.5, "k": 3.0, "b": 1.0, "c": "gold"}
    b = snap.record("B")
    assert np.isnan(b["n"]) and np.isnan(b["k"]) and (b["b"], b["c"]) == (0.0, None)


def test_snapshot_without_a_model_feature_fails_naming_it(table):
    frame, _ = table
    with pytest.raises(ValueError, match="f4"):
        FeatureSnapshot(frame.drop(columns="f4"), "2024-06-30").select(list(frame.columns))


def test_check_record_names_every_bad_field():
    errors = check_record(
        {"a": "x", "b": 1, "zz": 0, "c": float("inf")}, ["a", "b", "c", "d"], {"b": ["gold"]}, ("features",)
    )
    assert {(e.type, tuple(e.loc)) for e in errors} == {
        ("number_type", ("features", "a")),
        ("string_type", ("features", "b")),
        ("unknown_feature", ("features", "zz")),
        ("number_type", ("features", "c")),
        ("missing_feature", ("features", "d")),
    }


def test_check_record_accepts_numbers_flags_nulls_and_known_categories():
    assert (
        check_record(
            {"a": 1, "b": 2.5, "c": True, "d": None, "p": "gold"},
            ["a", "b", "c", "d", "p"],
            {"p": ["basic", "gold"]},
            (),
        )
        == []
    )


def test_customer_id_and_feature_record_score_like_predict_proba(scorer, table):
    frame, _ = table
    expected = scorer.estimator.predict_proba(frame.loc[["C0005"]])[0, 1]
    by_id = scorer.score(ChurnRequest(customer_id="C0005"))
    by_record = scorer.score(ChurnRequest(features=_record(frame, "C0005"), top_k=0))
    assert by_id.probability == pytest.approx(expected, abs=1e-6)
    assert by_record.probability == pytest.approx(expected, abs=1e-6)
    assert (by_id.snapshot_as_of, by_record.snapshot_as_of) == ("2024-06-30", None)
    assert len(by_id.reasons) == 3 and by_record.reasons == []


def test_reasons_are_the_largest_contributions_first(scorer, table):
    frame, _ = table
    reasons = scorer.score(ChurnRequest(customer_id="C0009", top_k=5)).reasons
    contributions = scorer.estimator.explain(frame.loc[["C0009"]]).proba.iloc[0]
    top = contributions.abs().sort_values(ascending=False).index[: len(reasons)]
    assert [r.feature for r in reasons] == list(top)


def test_batch_equals_single_scores(scorer, table):
    frame, _ = table
    ids = list(frame.index[:30])
    out = scorer.score_batch([ChurnRequest(customer_id=c, top_k=1) for c in ids])
    single = [scorer.score(ChurnRequest(customer_id=c, top_k=0)).probability for c in ids]
    np.testing.assert_allclose([o.probability for o in out], single, atol=1e-6)
    assert [o.customer_id for o in out] == ids


def test_unknown_customer_is_a_404_request_error(scorer):
    with pytest.raises(RequestError) as exc:
        scorer.score_batch([ChurnRequest(customer_id="C0001"), ChurnRequest(customer_id="ghost")])
    assert exc.value.status == 404
    assert "ghost" in exc.value.error
    assert exc.value.body()["detail"][0]["loc"] == ["items", 1, "customer_id"]


def test_bad_record_is_a_400_request_error_naming_the_field(scorer, table):
    frame, _ = table
    record = {**_record(frame, "C0001"), "plan": "platinum"}
    with pytest.raises(RequestError) as exc:
        scorer.score(ChurnRequest(features=record))
    assert exc.value.status == 400
    assert [d.loc for d in exc.value.detail] == [["features", "plan"]]


@pytest.mark.parametrize(
    "value, error",
    [(1.5, "string_type"), (2, "string_type"), ("platinum", "unknown_category"), (float("nan"), "string_type")],
)
def test_a_complete_record_with_one_bad_value_still_gets_the_field_named(value, error):
    """Complete records take the fast path; any value it cannot vouch for falls back to the full check."""
    record = {"a": 1.0, "b": 3, "p": value}
    errors = check_record(record, ["a", "b", "p"], {"p": ["basic", "gold"]}, ("items", 7, "features"))
    assert [(e.type, e.loc) for e in errors] == [(error, ["items", 7, "features", "p"])]
    assert check_record({**record, "p": "gold"}, ["a", "b", "p"], {"p": ["basic", "gold"]}, ()) == []
    assert check_record({"a": float("inf"), "b": 1, "p": "gold"}, ["a", "b", "p"], {"p": ["gold"]}, ())[0].loc == ["a"]
