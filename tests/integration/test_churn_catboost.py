"""A CatBoost churn champion end to end: trained by the search restricted to CatBoost (its enqueued defaults),
registered, loaded as a pyfunc, explained on its model card, exported and served by a real ``bentoml serve`` with
reasons, each answer equal to the model in process."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

from cxml import tracking
from cxml.config import PipelineConfig, Workspace
from cxml.datasets import get_family
from cxml.datasets.tables import table_dataset
from cxml.explain.card import write_card
from cxml.models.boosting import predict_margin
from cxml.models.catboost_booster import is_catboost
from cxml.models.churn import CATBOOST_DEFAULTS
from cxml.models.explanation import model_output
from cxml.pyfunc import load_estimator, model_input
from cxml.serving import store
from cxml.training import train
from tests.integration.serving_fixtures import AS_OF, _record, serve
from tests.integration.test_report import generated_table

pytestmark = pytest.mark.integration
NAME = "cxml.churn.catboost_test"


@pytest.fixture(scope="module")
def champion(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("ws"))
    tracking.configure(ws)
    frame = generated_table(1500).assign(customer_id=lambda f: [f"C{i:05d}" for i in range(len(f))])
    data, _ = table_dataset(frame, "churned", name="catboost_test", source="generated", id_column="customer_id")
    cfg = PipelineConfig.model_validate(
        {"family": "churn", "tuning": {"n_trials": 1, "cv_folds": 2, "algorithms": ["catboost"], "n_jobs": 1}}
    )
    result = train(get_family("churn").spec, data, cfg, ws, model_name=NAME)
    assert result.gate.passed, result.gate.reason
    estimator = load_estimator(f"models:/{NAME}/{result.model_version}")
    return ws, data, result, estimator


def test_the_search_tried_catboost_s_defaults_and_the_champion_is_catboost(champion):
    _, _, result, estimator = champion
    chosen = result.study.best_params
    assert {k: chosen[k] for k in CATBOOST_DEFAULTS} == CATBOOST_DEFAULTS
    assert len(estimator.boosters_) == 5 and all(is_catboost(b) for b, _ in estimator.boosters_)
    assert result.metrics["roc_auc"] > 0.8, result.metrics


def test_the_pyfunc_and_the_explanations_agree_with_the_model(champion):
    _, data, result, estimator = champion
    rows = data.X_holdout.head(40)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{NAME}/{result.model_version}")
    scores = np.asarray(pyfunc.predict(model_input(rows))).reshape(len(rows), -1)[:, 0]
    np.testing.assert_allclose(scores, estimator.predict_proba(rows)[:, 1], atol=1e-9)
    margin = estimator.explain(rows)
    matrix = estimator.encoder_.transform(rows)
    trees = np.mean([predict_margin(b, matrix, n) for b, n in estimator.boosters_], axis=0)
    w = estimator.linear_weight_
    expected = (1 - w) * trees + (w * estimator.linear_.margin(matrix) if estimator.linear_ is not None else 0)
    np.testing.assert_allclose(model_output(margin), expected, atol=1e-8)
    probability = estimator.explain(rows, output="probability")
    np.testing.assert_allclose(model_output(probability), estimator.predict_proba(rows)[:, 1], atol=1e-10)


def test_the_model_card_shows_the_catboost_champion_s_drivers(champion, tmp_path):
    path, _ = write_card(NAME, None, tmp_path)
    html = path.read_text()
    assert "<h2>Global drivers (SHAP)</h2>" in html and "<h2>Example customers</h2>" in html


def test_served_with_reasons_like_the_model_in_process(champion):
    ws, data, _, estimator = champion
    features = pd.concat([data.X_train, data.X_holdout])
    tags = {
        "churn": store.export_champion(ws, "churn", NAME),
        "snapshot": store.export_snapshot(ws, features, AS_OF),
    }
    manifest = ws.root / "served.json"
    store.write_manifest(manifest, tags)
    known, record = str(features.index[3]), str(features.index[8])
    with serve(ws, manifest) as client:
        by_id = client.post("/churn", json={"customer_id": known})
        by_record = client.post("/churn", json={"features": _record(features, record), "top_k": 2})
    assert by_id.status_code == 200 and by_record.status_code == 200, (by_id.text, by_record.text)
    for body, cid, k in ((by_id.json(), known, 3), (by_record.json(), record, 2)):
        assert body["probability"] == pytest.approx(estimator.predict_proba(features.loc[[cid]])[0, 1], abs=1e-6)
        assert len(body["reasons"]) == k
        explained = estimator.explain(features.loc[[cid]], output="probability")
        top = np.argsort(-np.abs(explained.values[0]), kind="stable")[:k]
        assert [r["feature"] for r in body["reasons"]] == [explained.feature_names[i] for i in top]
