"""A real champion, exported to a real BentoML store, served by a real ``bentoml serve`` over HTTP."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from cxml.serving import store
from tests.integration.serving_fixtures import (
    AS_OF,
    CAPPED,
    NEGATIVE,
    NO_CONSENT,
    Served,
    _record,
    _server,
)

pytestmark = pytest.mark.integration


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


def test_batch_table_form_scores_like_the_model(served: Served, client: httpx.Client) -> None:
    ids = list(served.features.index[:50])
    columns = list(served.features.columns)
    rows = [[_record(served.features, cid)[c] for c in columns] for cid in ids]
    r = client.post("/churn_batch", json={"columns": columns, "rows": rows})
    assert r.status_code == 200, r.text
    expected = served.estimator.predict_proba(served.features.loc[ids])[:, 1]  # type: ignore[attr-defined]
    np.testing.assert_allclose([item["probability"] for item in r.json()["items"]], expected, atol=1e-6)
    rows[3][0] = "not a number"
    bad = client.post("/churn_batch", json={"columns": columns, "rows": rows})
    assert bad.status_code == 400, bad.text
    assert bad.json()["detail"][0]["loc"] == ["rows", 3, 0]


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


def _nba(client: httpx.Client, customer_id: str) -> dict:
    r = client.post("/next_best_action", json={"customer_id": customer_id, "top_k": 5})
    assert r.status_code == 200, r.text
    return r.json()


def _not_held_out(served: Served) -> list[str]:
    from cxml.decision.nba import NbaConfig
    from cxml.decision.policy import in_holdout

    policy = NbaConfig.from_yaml(None).policy
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


@pytest.mark.parametrize(
    "route, body, command",
    [
        ("/survival", {"customer_id": "C00003"}, "cxml train survival"),
        ("/clv", {"customer_id": "C00003"}, "cxml train clv"),
        ("/segment", {"customer_id": "C00003"}, "cxml segments"),
        ("/cross_sell", {"customer_id": "C00003"}, "cxml train cross_sell"),
        ("/cross_sell_pair", {"customer_id": "C00003", "item": "P1"}, "cxml train cross_sell"),
        (
            "/price",
            {"customer_id": "C00003", "product_id": "P1", "channel": "web", "time_bucket": "x"},
            "cxml train price",
        ),
    ],
)
def test_a_family_without_a_served_model_is_503_with_the_way_out(client: httpx.Client, route, body, command) -> None:
    r = client.post(route, json=body)
    assert r.status_code == 503 and command in r.json()["error"]
    assert client.post("/churn", json={"customer_id": "C00003", "top_k": 0}).status_code == 200
