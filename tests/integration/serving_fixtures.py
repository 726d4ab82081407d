"""The served champions every serving test uses: a churn and an uplift model trained on a generated table,
exported with a feature snapshot and contact states, and ``bentoml serve`` on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from cxml import tracking
from cxml.config import PipelineConfig, Workspace
from cxml.datasets import get_family
from cxml.datasets.tables import table_dataset
from cxml.datasets.uplift import uplift_table_dataset
from cxml.jobs.export import serve_command
from cxml.pyfunc import load_estimator
from cxml.serving import store
from cxml.serving.uplift_export import uplift_serving_metadata
from cxml.training import train

REPO = Path(__file__).resolve().parents[2]
AS_OF = "2024-06-30"


@dataclass(frozen=True)
class Served:
    ws: Workspace
    features: pd.DataFrame
    estimator: object
    version: str
    run_id: str
    tags: dict[str, str]
    manifest: Path
    uplift: object


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(ws: Workspace, manifest: Path) -> dict[str, str]:
    return {
        **os.environ,
        "BENTOML_HOME": str(ws.bentoml_home),
        "BENTOML_DO_NOT_TRACK": "true",
        "CXML_MANIFEST": str(manifest),
        "PYTHONPATH": str(REPO / "src"),
        "CXML_WORKERS": "1",  # one worker is enough to test behaviour; two cost a second start-up per server
    }


def _record(frame: pd.DataFrame, customer_id: str) -> dict[str, object]:
    row = frame.loc[customer_id]
    return {k: (None if pd.isna(v) else v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    os.environ["BENTOML_DO_NOT_TRACK"] = "true"
    ws = Workspace(tmp_path_factory.mktemp("serving-ws"))
    tracking.configure(ws)
    X, y = make_classification(n_samples=300, n_features=6, n_informative=4, random_state=0)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    frame["plan"] = np.where(X[:, 0] > 0, "gold", "basic")
    frame["customer_id"] = [f"C{i:05d}" for i in range(len(frame))]
    frame["churn"] = y
    data, _ = table_dataset(frame, "churn", name="generated", source="make_classification", id_column="customer_id")
    cfg = PipelineConfig.model_validate(
        {"family": "churn", "tuning": {"n_trials": 1, "cv_folds": 2, "algorithms": ["xgboost"], "n_jobs": 1}}
    )
    result = train(get_family("churn").spec, data, cfg, ws)
    assert result.gate.passed, result.gate.reason
    features = pd.concat([data.X_train, data.X_holdout])
    uplift = _train_uplift(ws, frame.drop(columns="churn"))
    tags = {
        "churn": store.export_champion(ws),
        "uplift": store.export_champion(ws, "uplift", extra_metadata=uplift_serving_metadata(ws, "1")),
        "snapshot": store.export_snapshot(ws, features, AS_OF, _contacts(features.index)),
    }
    manifest = ws.root / "served.json"
    store.write_manifest(manifest, tags)
    estimator = load_estimator(f"models:/{result.model_name}/{result.model_version}")
    return Served(ws, features, estimator, result.model_version, result.run_id, tags, manifest, uplift)


NO_CONSENT, CAPPED, NEGATIVE = "C00000", "C00001", "C00002"


def _contacts(ids: pd.Index) -> pd.DataFrame:
    """Consent and contact history: C00000 has no marketing consent, C00001 was contacted two days before the
    snapshot (7-day cap 1), C00002 answered negatively ten days before it; everyone else may be contacted."""
    as_of = pd.Timestamp(AS_OF)
    frame = pd.DataFrame(
        {"consent_marketing": True, "contacts": [() for _ in ids], "last_negative_at": pd.NaT}, index=ids.astype(str)
    )
    frame.loc[NO_CONSENT, "consent_marketing"] = False
    frame.at[CAPPED, "contacts"] = (as_of - pd.Timedelta(days=2),)
    frame.loc[NEGATIVE, "last_negative_at"] = as_of - pd.Timedelta(days=10)
    return frame


def _train_uplift(ws: Workspace, frame: pd.DataFrame) -> object:
    """An uplift champion on the same customers: a mail arm that works when f1 > 0 (the gate is opened wide)."""
    rng = np.random.default_rng(0)
    arm = rng.choice(["none", "mail"], len(frame))
    respond = (rng.random(len(frame)) < 0.2 + 0.4 * (arm == "mail") * (frame["f1"] > 0)).astype(int)
    experiment = frame.assign(arm=arm, respond=respond)
    data, _ = uplift_table_dataset(
        experiment, "respond", "arm", "none", name="generated", source="generated", id_column="customer_id"
    )
    cfg = PipelineConfig.model_validate(
        {
            "family": "uplift",
            "tuning": {"n_trials": 1, "cv_folds": 2, "algorithms": ["lightgbm"]},
            "gate": {"primary_metric": "qini", "min_gain_vs_baseline": -1.0},
        }
    )
    result = train(get_family("uplift").spec, data, cfg, ws)
    assert result.gate.passed and result.model_version == "1", result.gate.reason
    return load_estimator("models:/cxml.uplift/1")


def _server(served: Served, **env: str) -> contextlib.AbstractContextManager[httpx.Client]:
    return serve(served.ws, served.manifest, **env)


@contextlib.contextmanager
def serve(ws: Workspace, manifest: Path, **env: str) -> Iterator[httpx.Client]:
    """``bentoml serve`` of the champions in ``manifest`` on a free loopback port, ready; stopped afterwards."""
    port = free_port()
    log_path = ws.root / f"server-{port}.log"
    log = open(log_path, "wb")  # noqa: SIM115 (closed in the finally)
    proc = subprocess.Popen(
        serve_command("127.0.0.1", port),
        cwd=REPO,
        env={**_env(ws, manifest), **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            deadline = time.monotonic() + 45
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"bentoml serve exited with {proc.returncode}: {log_path.read_text()[-3000:]}")
                try:
                    if http.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"server not ready: {log_path.read_text()[-3000:]}")
                time.sleep(0.3)
            yield http
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the server and its workers: the group this test started
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


@pytest.fixture(scope="session")
def client(served: Served) -> Iterator[httpx.Client]:
    with _server(served) as http:
        yield http
