"""The serving helpers without HTTP: manifest, snapshot lookup, record checks, scoring."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from cxml.models.churn import ChurnClassifier
from cxml.serving.schemas import ChurnRequest, ServedModel
from cxml.serving.scoring import MAX_MAGNITUDE, ChurnScorer, RequestError, check_record
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
    e = scorer.estimator.explain(frame.loc[["C0009"]], output="probability")[0]
    top = [e.feature_names[j] for j in np.argsort(-np.abs(e.values), kind="stable")[: len(reasons)]]
    assert [r.feature for r in reasons] == top
    assert [r.contribution for r in reasons] == pytest.approx([float(e.values[e.feature_names.index(f)]) for f in top])


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


def _table_rows(frame, ids, columns):
    return [[_record(frame, cid)[c] for c in columns] for cid in ids]


def test_table_form_scores_like_items_in_any_column_order(scorer, table):
    frame, _ = table
    ids = list(frame.index[:25])
    columns = list(frame.columns[::-1])
    got = scorer.score_table(columns, _table_rows(frame, ids, columns), top_k=2)
    expected = scorer.score_batch([ChurnRequest(features=_record(frame, c), top_k=2) for c in ids])
    np.testing.assert_allclose([g.probability for g in got], [e.probability for e in expected], atol=1e-12)
    assert [[r.feature for r in g.reasons] for g in got] == [[r.feature for r in e.reasons] for e in expected]
    assert all(g.model_version == "1" and g.customer_id is None for g in got)


def test_table_form_takes_null_as_missing(scorer, table):
    frame, _ = table
    columns = list(frame.columns)
    rows = _table_rows(frame, ["C0001"], columns)
    rows[0][columns.index("f2")] = None
    record = {**_record(frame, "C0001"), "f2": None}
    [got] = scorer.score_table(columns, rows)
    assert got.probability == pytest.approx(scorer.score(ChurnRequest(features=record, top_k=0)).probability)


def test_table_form_names_unknown_repeated_and_missing_columns(scorer):
    columns = ["f0", "f1", "f1", "f3", "f4", "plan", "tier"]
    rows = [[0.0, 1.0, 1.0, 0.0, 0.0, "gold", "x"]]
    with pytest.raises(RequestError) as exc:
        scorer.score_table(columns, rows)
    assert exc.value.status == 400
    kinds = {(d.type, tuple(d.loc)) for d in exc.value.detail}
    assert kinds == {("unknown_feature", ("columns", 6)), ("duplicate_feature", ("columns", 2))} | {
        ("missing_feature", ("columns",))
    }
    assert "f2" in next(d.msg for d in exc.value.detail if d.type == "missing_feature")


@pytest.mark.parametrize(
    ("column", "bad", "kind"),
    [("f1", "high", "number_type"), ("f1", True, "number_type"), ("f1", float("inf"), "number_type"),
     ("plan", "platinum", "unknown_category"), ("plan", 3, "unknown_category")],
)  # fmt: skip
def test_table_form_names_the_column_and_the_rows_of_a_bad_value(scorer, table, column, bad, kind):
    frame, _ = table
    columns = list(frame.columns)
    rows = _table_rows(frame, frame.index[:6], columns)
    for i in (2, 5):
        rows[i][columns.index(column)] = bad
    with pytest.raises(RequestError) as exc:
        scorer.score_table(columns, rows)
    [detail] = exc.value.detail
    assert (detail.type, detail.loc) == (kind, ["rows", 2, columns.index(column)])
    assert column in detail.msg and "[2, 5]" in detail.msg


@pytest.mark.parametrize("value", [1e308, -1e308, 10**400, -(10**400), MAX_MAGNITUDE * 1.01])
def test_churn_record_and_table_with_a_huge_number_are_400_naming_the_field(scorer, table, value):
    frame, _ = table
    record = {**_record(frame, "C0001"), "f2": value}
    with pytest.raises(RequestError) as exc:
        scorer.score(ChurnRequest(features=record))
    assert exc.value.status == 400 and [d.loc for d in exc.value.detail] == [["features", "f2"]]
    columns = list(frame.columns)
    rows = _table_rows(frame, frame.index[:4], columns)
    rows[3][columns.index("f2")] = value
    with pytest.raises(RequestError) as exc:
        scorer.score_table(columns, rows)
    assert [d.loc for d in exc.value.detail] == [["rows", 3, columns.index("f2")]]
