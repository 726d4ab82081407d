"""A real champion, exported to a real BentoML store, served by a real ``bentoml serve`` over HTTP."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from cxml.config import PipelineConfig, Workspace
from cxml.datasets import table_dataset, uplift_table_dataset
from cxml.jobs import serve_command, uplift_serving_metadata
from cxml.models.spec import get_spec
from cxml.pyfunc import load_estimator
from cxml.serving import store
from cxml.training import train

pytestmark = pytest.mark.integration

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


def _free_port() -> int:
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
    }


def _record(frame: pd.DataFrame, customer_id: str) -> dict[str, object]:
    row = frame.loc[customer_id]
    return {k: (None if pd.isna(v) else v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    os.environ["BENTOML_DO_NOT_TRACK"] = "true"
    ws = Workspace(tmp_path_factory.mktemp("serving-ws"))
    X, y = make_classification(n_samples=300, n_features=6, n_informative=4, random_state=0)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    frame["plan"] = np.where(X[:, 0] > 0, "gold", "basic")
    frame["customer_id"] = [f"C{i:05d}" for i in range(len(frame))]
    frame["churn"] = y
    data, _ = table_dataset(frame, "churn", name="generated", source="make_classification", id_column="customer_id")
    cfg = PipelineConfig.model_validate(
        {"family": "churn", "tuning": {"n_trials": 1, "cv_folds": 2, "algorithms": ["xgboost"], "n_jobs": 1}}
    )
    result = train(get_spec("churn"), data, cfg, ws)
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
    result = train(get_spec("uplift"), data, cfg, ws)
    assert result.gate.passed and result.model_version == "1", result.gate.reason
    return load_estimator("models:/cxml.uplift/1")


@contextlib.contextmanager
def _server(served: Served, **env: str) -> Iterator[httpx.Client]:
    """``bentoml serve`` of the exported champions on a free loopback port, ready; stopped afterwards."""
    port = _free_port()
    log_path = served.ws.root / f"server-{port}.log"
    log = open(log_path, "wb")  # noqa: SIM115 (closed in the finally)
    proc = subprocess.Popen(
        serve_command("127.0.0.1", port),
        cwd=REPO,
        env={**_env(served.ws, served.manifest), **env},
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


def test_exports_are_pinned_to_the_champion(served: Served) -> None:
    assert served.tags["churn"] == f"cxml-churn:v{served.version}-{served.run_id[:8]}"
    assert store.export_champion(served.ws) == served.tags["churn"]  # re-export reuses the tag
    assert store.read_manifest(served.manifest) == served.tags


def test_known_customer_is_scored_like_the_model_in_process(served: Served, client: httpx.Client) -> None:
    cid = served.features.index[7]
    r = client.post("/churn", json={"customer_id": cid})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = served.estimator.predict_proba(served.features.loc[[cid]])[0, 1]  # type: ignore[attr-defined]
    assert 0.0 <= body["probability"] <= 1.0
    assert body["probability"] == pytest.approx(expected, abs=1e-6)
    assert body["model_version"] == served.version
    assert body["snapshot_as_of"] == AS_OF
    assert len(body["reasons"]) == 3
    assert all(set(reason) == {"feature", "value", "contribution", "text"} for reason in body["reasons"])


def test_feature_record_is_scored_like_the_model_in_process(served: Served, client: httpx.Client) -> None:
    cid = served.features.index[11]
    r = client.post("/churn", json={"features": _record(served.features, cid), "top_k": 2})
    assert r.status_code == 200, r.text
    expected = served.estimator.predict_proba(served.features.loc[[cid]])[0, 1]  # type: ignore[attr-defined]
    assert r.json()["probability"] == pytest.approx(expected, abs=1e-6)
    assert r.json()["customer_id"] is None
    assert len(r.json()["reasons"]) == 2


def test_batch_scores_every_item_in_order(served: Served, client: httpx.Client) -> None:
    ids = list(served.features.index[:20])
    items = [{"customer_id": cid, "top_k": 0} for cid in ids[:19]]
    items.append({"features": _record(served.features, ids[19]), "top_k": 1})
    r = client.post("/churn_batch", json={"items": items})
    assert r.status_code == 200, r.text
    expected = served.estimator.predict_proba(served.features.loc[ids])[:, 1]  # type: ignore[attr-defined]
    got = [item["probability"] for item in r.json()["items"]]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert [item["customer_id"] for item in r.json()["items"]] == [*ids[:19], None]
    assert len(r.json()["items"][-1]["reasons"]) == 1


def test_unknown_customer_is_404_with_a_message(client: httpx.Client) -> None:
    r = client.post("/churn", json={"customer_id": "nobody"})
    assert r.status_code == 404
    assert "nobody" in r.json()["error"]
    assert r.json()["detail"][0]["loc"] == ["customer_id"]


def test_wrong_feature_type_is_4xx_naming_the_field(served: Served, client: httpx.Client) -> None:
    record = {**_record(served.features, served.features.index[0]), "f3": "high"}
    r = client.post("/churn", json={"features": record})
    assert r.status_code == 400
    assert [d["loc"] for d in r.json()["detail"]] == [["features", "f3"]]


def test_customer_id_and_features_together_are_rejected(served: Served, client: httpx.Client) -> None:
    cid = served.features.index[0]
    r = client.post("/churn", json={"customer_id": cid, "features": _record(served.features, cid)})
    assert r.status_code == 400
    assert "customer_id" in r.text and "features" in r.text


@pytest.mark.parametrize(
    "route, payload",
    [
        ("/churn", b"{not json"),
        ("/churn", b'{"customer_id": 42}'),
        ("/churn", b'{"customer_id": "C00001", "top_k": 99}'),
        ("/churn", b'{"customer_id": "C00001", "colour": "red"}'),
        ("/churn", b'{"features": {"f0": {"nested": 1}}}'),
        ("/churn", b'{"features": {"f0": 1}}'),
        ("/churn", b"[]"),
        ("/churn_batch", b'{"items": []}'),
        ("/churn_batch", b'{"items": [{"customer_id": "nobody"}]}'),
    ],
)
def test_bad_requests_get_a_4xx_and_the_server_keeps_answering(
    client: httpx.Client, route: str, payload: bytes
) -> None:
    r = client.post(route, content=payload, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    assert client.get("/readyz").status_code == 200
    assert client.post("/churn", json={"customer_id": "C00001", "top_k": 0}).status_code == 200


def test_info_shows_the_exact_versions_served(served: Served, client: httpx.Client) -> None:
    r = client.get("/info")
    assert r.status_code == 200
    info = r.json()
    model, uplift = info["models"]
    assert (uplift["family"], uplift["bento_tag"]) == ("uplift", served.tags["uplift"])
    assert model["bento_tag"] == served.tags["churn"]
    assert model["mlflow_model"] == "cxml.churn"
    assert model["mlflow_version"] == served.version
    assert model["mlflow_run_id"] == served.run_id
    assert info["snapshot"] == {
        "bento_tag": served.tags["snapshot"],
        "as_of": AS_OF,
        "n_customers": len(served.features),
    }
    assert info["ready"] is True


def test_uplift_gives_each_arms_effect_with_its_holdout_band_and_reasons(served: Served, client: httpx.Client) -> None:
    cid = served.features.index[3]
    r = client.post("/uplift", json={"customer_id": cid, "top_k": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    (effect,) = body["effects"]
    expected = served.uplift.effect(served.features.loc[[cid]], arm="mail")[0]  # type: ignore[attr-defined]
    assert effect["arm"] == "mail" and effect["effect"] == pytest.approx(expected, abs=1e-9)
    assert 1 <= effect["decile"] <= 10 and effect["interval"][0] <= effect["observed_effect"] <= effect["interval"][1]
    assert body["recommended_arm"] == ("mail" if expected > 0 else "do_not_contact")  # no costs known: effect sign
    assert body["persuadable"] == (expected > 0) and 1 <= len(body["reasons"]) <= 2  # tiny effects are left out
    assert "the mail effect by" in body["reasons"][0]["text"]
    assert body["model_name"] == "cxml.uplift" and body["model_version"] == "1"


def test_uplift_bad_requests_are_4xx_naming_the_field(client: httpx.Client) -> None:
    r = client.post("/uplift", json={"customer_id": "nobody"})
    assert r.status_code == 404 and "nobody" in r.json()["error"]
    r = client.post("/uplift", json={"features": {"f0": "high"}})
    assert 400 <= r.status_code < 500 and "f0" in r.text


def test_bentofile_builds_a_bento_with_the_exact_models(served: Served, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    shutil.copytree(REPO / "src" / "cxml", ctx / "src" / "cxml", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("bentofile.yaml", "requirements.lock"):
        shutil.copy(REPO / name, ctx / name)
    (ctx / "models").mkdir()
    shutil.copy(served.manifest, ctx / "models" / "served.json")
    env = {**_env(served.ws, ctx / "models" / "served.json"), "PYTHONPATH": str(ctx / "src")}
    out = subprocess.run(
        [sys.executable, "-m", "bentoml", "build", "--output", "tag", str(ctx)],
        cwd=ctx,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    tag = out.stdout.strip().rsplit("__tag__:", 1)[-1]
    name, version = tag.split(":")
    bento_yaml = (served.ws.bentoml_home / "bentos" / name / version / "bento.yaml").read_text()
    assert served.tags["churn"] in bento_yaml and served.tags["snapshot"] in bento_yaml
    assert (
        served.ws.bentoml_home / "bentos" / name / version / "src" / "src" / "cxml" / "serving" / "service.py"
    ).exists()


def _nba(client: httpx.Client, customer_id: str) -> dict:
    r = client.post("/next_best_action", json={"customer_id": customer_id, "top_k": 5})
    assert r.status_code == 200, r.text
    return r.json()


def _not_held_out(served: Served) -> list[str]:
    from cxml.decision.nba import NbaConfig
    from cxml.decision.policy import in_holdout

    policy = NbaConfig.from_yaml(REPO / "pipelines" / "policy.yaml").policy
    return [c for c in served.features.index if not in_holdout(c, policy.holdout_share, policy.holdout_salt)]


def test_next_best_action_values_every_candidate_and_picks_the_best(served: Served, client: httpx.Client) -> None:
    customer = next(c for c in _not_held_out(served) if c not in {NO_CONSENT, CAPPED, NEGATIVE})
    body = _nba(client, customer)
    names = {body["action"]["name"], *(a["name"] for a in body["runners_up"])}
    assert {"retention_offer", "service_check_in", "campaign:mail"} <= names | {"do_nothing"}
    allowed = [body["action"], *body["runners_up"]]
    best = max(allowed, key=lambda a: a["expected_value"])
    if best["expected_value"] > 0:
        assert body["action"] == best
    else:
        assert body["action"]["name"] == "do_nothing"
    churn = client.post("/churn", json={"customer_id": customer, "top_k": 0}).json()
    assert body["churn_probability"] == pytest.approx(churn["probability"])
    assert body["models"] == {"cxml.churn": served.version, "cxml.uplift": "1"}
    assert body["snapshot_as_of"] == AS_OF and not body["blocked"] and not body["holdout"]


def test_next_best_action_respects_consent_caps_and_cooldown(served: Served, client: httpx.Client) -> None:
    for customer, rule in [(NO_CONSENT, "no marketing consent"), (CAPPED, "contact cap"), (NEGATIVE, "cooldown")]:
        if customer not in _not_held_out(served):
            continue
        body = _nba(client, customer)
        assert body["action"]["kind"] != "marketing"
        assert body["blocked"] and all(reason.startswith(rule) for reason in body["blocked"].values())
        assert "retention_offer" in body["blocked"] and "campaign:mail" in body["blocked"]
        assert all(a["kind"] != "marketing" for a in body["runners_up"])


def test_next_best_action_holds_out_a_persistent_share(served: Served, client: httpx.Client) -> None:
    held = sorted(set(served.features.index) - set(_not_held_out(served)))
    assert 0 < len(held) < 0.15 * len(served.features)  # 5 % of 300 customers, give or take
    for customer in held[:3]:
        first, second = _nba(client, customer), _nba(client, customer)
        assert first["holdout"] and first["action"]["name"] == "do_nothing" and second["holdout"]


def test_next_best_action_bad_requests_are_4xx(client: httpx.Client) -> None:
    unknown = client.post("/next_best_action", json={"customer_id": "nobody"})
    assert unknown.status_code == 404 and "nobody" in unknown.text
    missing = client.post("/next_best_action", json={"top_k": 2})
    assert missing.status_code in (400, 422) and "customer_id" in missing.text
    extra = client.post("/next_best_action", json={"customer_id": "C00003", "features": {}})
    assert extra.status_code in (400, 422) and "features" in extra.text


def test_api_key_and_body_limit_in_the_real_server(served: Served) -> None:
    with _server(served, CXML_API_KEY="k-123", CXML_MAX_BODY_BYTES="2000") as http:
        body = {"customer_id": "C00003", "top_k": 0}
        missing = http.post("/churn", json=body)
        assert missing.status_code == 401 and "API key" in missing.text
        assert http.post("/churn", json=body, headers={"X-API-Key": "k-124"}).status_code == 401
        assert http.get("/info").status_code == 401
        ok = http.post("/churn", json=body, headers={"X-API-Key": "k-123"})
        assert ok.status_code == 200 and 0 <= ok.json()["probability"] <= 1
        big = {"items": [{"customer_id": f"C{i:05d}", "top_k": 0} for i in range(200)]}
        too_large = http.post("/churn_batch", json=big, headers={"Authorization": "Bearer k-123"})
        assert too_large.status_code == 413 and "bytes" in too_large.text
        assert http.get("/readyz").status_code == 200  # probes need no key
        assert http.post("/churn", json=body, headers={"X-API-Key": "k-123"}).status_code == 200
