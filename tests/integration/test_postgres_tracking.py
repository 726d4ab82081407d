"""The churn slice on a shared PostgreSQL tracking store: train → gate → promote → rollback → cards → build → serve.

A real PostgreSQL cluster (``postgres_fixtures``), the CLI as a user runs it with ``--tracking-uri``, and the
registry read back from the database: nothing may fall back to the workspace's SQLite file.
"""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from cxml.config import Workspace
from cxml.data.synthetic import write_company
from cxml.jobs.snapshot import example_customer
from tests.conftest import run_cli
from tests.integration.postgres_fixtures import postgres  # noqa: F401 (fixture)
from tests.integration.serving_fixtures import serve

pytestmark = pytest.mark.integration


def test_churn_slice_on_postgres(postgres, tmp_path):  # noqa: F811
    url = postgres.database("mlflow_slice")
    data, home = tmp_path / "company", tmp_path / "ws"
    write_company(data, n_customers=1500, seed=4)

    def cxml(*args: str) -> dict | None:
        proc, payload = run_cli("--tracking-uri", url, *args, home=home)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return payload

    first = cxml("train", "churn", "--data", str(data), "--trials", "2", "--json")
    second = cxml("train", "churn", "--data", str(data), "--trials", "3", "--json")
    assert (first["model_version"], second["model_version"]) == ("1", "2")
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    passed = [v for v in ("1", "2") if client.get_model_version("cxml.churn", v).tags["validation_status"] == "passed"]
    assert passed, "no version passed the gate on PostgreSQL"

    cxml("promote", "churn", "--version", passed[0])
    assert str(client.get_model_version_by_alias("cxml.churn", "champion").version) == passed[0]
    if len(passed) == 2:
        cxml("promote", "churn", "--version", passed[1])
        cxml("promote", "churn", "--rollback")
        assert str(client.get_model_version_by_alias("cxml.churn", "champion").version) == passed[0]

    cxml("snapshot", "--data", str(data))
    cxml("report", "churn")
    cxml("build")
    ws = Workspace(home)
    assert not (home / "mlflow.db").exists(), "something fell back to the workspace's SQLite store"
    runs = client.search_runs([client.get_experiment_by_name("cxml/churn").experiment_id])
    assert {first["run_id"], second["run_id"]} <= {r.info.run_id for r in runs}
    assert list((home / "reports").glob(f"cxml.churn-v{passed[0]}.html"))

    customer = example_customer(ws)
    with serve(ws, ws.manifest) as http:
        models = {m["family"]: m for m in http.get("/info").json()["models"]}
        assert models["churn"]["mlflow_version"] == passed[0]
        answer = http.post("/churn", json={"customer_id": customer})
        assert answer.status_code == 200, answer.text
        assert 0.0 <= answer.json()["probability"] <= 1.0 and answer.json()["model_version"] == passed[0]
