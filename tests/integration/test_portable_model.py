"""The registered champion loads where cxml is not installed: the logged pyfunc carries the cxml package
(``code_paths``) and pins the stack it imports, so a clean Python process and ``mlflow models serve`` with its
default environment manager (a fresh virtualenv built from the model's requirements) answer the same scores as
cxml in process and as cxml's own BentoML service."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest

from cxml import tracking
from cxml.pyfunc import model_input
from tests.integration.serving_fixtures import Served, free_port

pytestmark = pytest.mark.integration
CHAMPION_URI = "models:/cxml.churn@champion"
SITE_PACKAGES = sysconfig.get_paths()["purelib"]
ENV_BUILD_TIMEOUT_S = 1500.0
"""The first ``mlflow models serve`` builds a virtualenv and pip-installs the pinned stack (minutes); later runs
reuse it from ~/.mlflow/envs (keyed by the requirements)."""


def _without_cxml(script: str, ws_uri: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a Python that has the installed stack but not cxml: ``-I`` ignores PYTHONPATH and the
    user site, ``-S`` skips ``site`` so the editable install's ``.pth`` (which points at the checkout) is never
    read, and site-packages is put on the path by hand."""
    code = f"import sys; sys.path.append({SITE_PACKAGES!r})\n{script}"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd), "MLFLOW_TRACKING_URI": ws_uri}
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_clean_interpreter_really_lacks_cxml(served: Served, tmp_path: Path) -> None:
    run = _without_cxml("import cxml", served.ws.tracking_uri, tmp_path)
    assert run.returncode != 0 and "No module named 'cxml'" in run.stderr


def test_the_champion_loads_and_predicts_without_cxml_installed(served: Served, tmp_path: Path) -> None:
    rows = model_input(served.features.head(50))
    rows.to_parquet(tmp_path / "rows.parquet")
    script = f"""
import json, mlflow, pandas as pd
model = mlflow.pyfunc.load_model({CHAMPION_URI!r})
out = model.predict(pd.read_parquet({str(tmp_path / "rows.parquet")!r}))
out.to_parquet({str(tmp_path / "scores.parquet")!r})
print(json.dumps({{"cxml_from": sys.modules["cxml"].__file__}}))
"""
    run = _without_cxml(script, served.ws.tracking_uri, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    loaded_from = json.loads(run.stdout.strip().splitlines()[-1])["cxml_from"]
    assert "/code/cxml/" in loaded_from and str(tmp_path) not in loaded_from  # the copy inside the model
    tracking.configure(served.ws)  # tracking and registry: another test may have left its registry URI set
    expected = mlflow.pyfunc.load_model(CHAMPION_URI).predict(rows)
    got = pd.read_parquet(tmp_path / "scores.parquet")
    assert list(got.columns) == ["score"]
    np.testing.assert_allclose(got["score"].to_numpy(), expected["score"].to_numpy(), rtol=0, atol=1e-12)
    direct = np.asarray(served.estimator.predict_proba(served.features.head(50)))[:, 1]  # type: ignore[attr-defined]
    np.testing.assert_allclose(got["score"].to_numpy(), direct, rtol=0, atol=1e-12)


@pytest.fixture(scope="module")
def mlflow_server(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """``mlflow models serve`` of the champion with the default environment manager (virtualenv), cxml absent
    from its environment (no PYTHONPATH), on a free loopback port; stopped (its process group) afterwards."""
    port, logs = free_port(), tmp_path_factory.mktemp("mlflow-serve")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    env |= {"MLFLOW_TRACKING_URI": served.ws.tracking_uri, "PATH": f"{Path(sys.executable).parent}:{env['PATH']}"}
    log = open(logs / "serve.log", "wb")  # noqa: SIM115 (closed in the finally)
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", CHAMPION_URI, "--host", "127.0.0.1"]
    proc = subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=logs,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            deadline = time.monotonic() + ENV_BUILD_TIMEOUT_S
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"mlflow models serve exited {proc.returncode}: {_tail(logs / 'serve.log')}")
                try:
                    if http.get("/ping").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"mlflow models serve not ready: {_tail(logs / 'serve.log')}")
                time.sleep(2)
            yield http
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:]


def _records(frame: pd.DataFrame) -> list[list[object]]:
    return [[None if pd.isna(v) else (v.item() if hasattr(v, "item") else v) for v in row] for row in frame.values]


def test_mlflow_models_serve_answers_what_the_cxml_service_answers(
    served: Served, mlflow_server: httpx.Client, client: httpx.Client
) -> None:
    rows = served.features.head(40)
    columns = [str(c) for c in rows.columns]
    mlflow_reply = mlflow_server.post(
        "/invocations", json={"dataframe_split": {"columns": columns, "data": _records(model_input(rows))}}
    )
    assert mlflow_reply.status_code == 200, mlflow_reply.text
    cxml_reply = client.post("/churn_batch", json={"columns": columns, "rows": _records(rows)})
    assert cxml_reply.status_code == 200, cxml_reply.text
    from_mlflow = [p["score"] for p in mlflow_reply.json()["predictions"]]
    from_cxml = [item["probability"] for item in cxml_reply.json()["items"]]
    assert len(from_mlflow) == len(from_cxml) == 40
    np.testing.assert_allclose(from_mlflow, from_cxml, rtol=0, atol=1e-9)
