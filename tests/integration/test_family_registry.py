"""A family defined in the test suite (``tiny_family``) registers through ``$CXML_FAMILIES`` and then trains, is
gated, exported and answers over HTTP through the generic paths: no file of the package names it."""

from __future__ import annotations

import pytest

from cxml.config import TrainRequest, Workspace
from cxml.data.synthetic import write_company
from cxml.datasets import families
from cxml.jobs.export import export_for_serving
from cxml.jobs.snapshot import read_snapshot, run_snapshot
from cxml.jobs.train import run_train
from cxml.serving.families import served_families
from tests.integration.serving_fixtures import REPO, serve

pytestmark = pytest.mark.integration
PLUGIN = "tests.integration.tiny_family"


@pytest.fixture
def with_tiny(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CXML_FAMILIES", PLUGIN)
    families.cache_clear()
    served_families.cache_clear()
    yield
    families.cache_clear()
    served_families.cache_clear()


def test_a_family_from_outside_trains_gates_exports_and_answers_over_http(tmp_path, with_tiny):
    assert "tiny" in families() and "tiny" in served_families()
    ws = Workspace(tmp_path / "ws")
    data = tmp_path / "company"
    write_company(data, n_customers=1500, seed=4)
    for family in ("churn", "tiny"):
        result = run_train(TrainRequest(family=family, data=data, as_of="2025-10-01", trials=2), ws)
        assert result.gate.passed, f"{family}: {result.gate.reason}"
    assert result.model_name == "cxml.tiny" and result.metrics["roc_auc"] > 0.6
    run_snapshot(ws, data)
    tags = export_for_serving(ws)
    assert tags["tiny"].startswith("cxml-tiny:")
    snapshot, _ = read_snapshot(ws)
    customer = str(snapshot.index[0])
    pythonpath = f"{REPO / 'src'}:{REPO}"
    with serve(ws, ws.manifest, CXML_FAMILIES=PLUGIN, PYTHONPATH=pythonpath) as http:
        answer = http.post("/tiny", json={"customer_id": customer, "top_k": 2})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["family"] == "tiny" and 0 <= body["score"] <= 1 and len(body["reasons"]) == 2
        assert body["model_name"] == "cxml.tiny"
        assert http.post("/tiny", json={"customer_id": "nobody"}).status_code == 404
        served = {m["mlflow_model"] for m in http.get("/info").json()["models"]}
        assert {"cxml.churn", "cxml.tiny"} <= served
        assert "/tiny" in http.get("/docs.json").json()["paths"]
