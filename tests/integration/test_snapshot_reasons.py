"""The real server with the churn champion's reasons precomputed for its snapshot: it answers /churn by customer
id exactly as the server that explains on demand, still explains feature records, and a champion whose reasons
were computed for another snapshot explains on demand and says so in its log."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from cxml.serving import store
from cxml.serving.precomputed import with_churn_reasons
from tests.integration.serving_fixtures import Served, _record, serve

pytestmark = pytest.mark.integration

MARK = 0.123456


def _export_with_reasons(ws, snapshot_tag: str, marked: str | None = None) -> str:
    """The champion exported as ``cxml build`` does, with its snapshot's reasons; ``marked``: that customer's
    stored probability replaced by ``MARK`` (a value only a lookup can answer)."""
    models = store.model_store(ws)
    make = with_churn_reasons(None, lambda: store.load_snapshot(models.get(snapshot_tag)))

    def rows(estimator):
        frames = make(estimator)
        if marked is not None:
            frames["reasons"].loc[marked, "probability"] = MARK
        return frames

    return store.export_champion(ws, rows=rows)


def _manifest(served: Served, name: str, **tags: str) -> Path:
    path = served.ws.root / name
    store.write_manifest(path, {**served.tags, **tags})
    return path


def _answers(http: httpx.Client, bodies: list[dict]) -> list[dict]:
    out = []
    for body in bodies:
        r = http.post("/churn", json=body)
        assert r.status_code == 200, r.text
        out.append(r.json())
    return out


def _same(a: object, b: object) -> bool:
    """Equal JSON up to float round-off."""
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9, abs=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_looked_up_answers_equal_the_on_demand_server(served: Served, client: httpx.Client) -> None:
    ids = [str(c) for c in served.features.index[::7][:40]]
    tag = _export_with_reasons(served.ws, served.tags["snapshot"], marked=str(served.features.index[1]))
    assert tag.startswith(f"cxml-churn:v{served.version}-{served.run_id[:8]}-")  # the reasons' digest joins it
    assert (Path(store.model_store(served.ws).get(tag).path) / "reasons.parquet").exists()
    bodies = [{"customer_id": c, "top_k": k} for c in ids for k in (0, 3, 10)]
    bodies.append({"features": _record(served.features, ids[0]), "top_k": 3})
    expected = _answers(client, bodies)
    with serve(served.ws, _manifest(served, "served-reasons.json", churn=tag)) as looked_up:
        got = _answers(looked_up, bodies)
        info = looked_up.get("/info").json()
        mark = looked_up.post("/churn", json={"customer_id": str(served.features.index[1]), "top_k": 3}).json()
    assert mark["probability"] == MARK  # the server looks customers up
    assert all(_same(g, e) for g, e in zip(got, expected, strict=True))
    assert sum(len(g["reasons"]) for g in got) > 0 and got[-1]["customer_id"] is None
    assert any(m["bento_tag"] == tag for m in info["models"])
    log = sorted(served.ws.root.glob("server-*.log"), key=lambda p: p.stat().st_mtime)[-1].read_text()
    assert "not using the precomputed reasons" not in log


def test_reasons_for_another_snapshot_are_not_used(served: Served, client: httpx.Client) -> None:
    tag = _export_with_reasons(served.ws, served.tags["snapshot"])
    changed = served.features.copy()
    changed["f1"] = changed["f1"] + 1.0  # another snapshot: the stored answers would be wrong for it
    other = store.export_snapshot(served.ws, changed, "2024-07-31")
    ids = [str(c) for c in served.features.index[:10]]
    bodies = [{"customer_id": c, "top_k": 3} for c in ids]
    with serve(served.ws, _manifest(served, "served-stale.json", churn=tag, snapshot=other)) as stale:
        got = _answers(stale, bodies)
    log = sorted(served.ws.root.glob("server-*.log"), key=lambda p: p.stat().st_mtime)[-1].read_text()
    assert log.count("not using the precomputed reasons") == 1  # one worker, logged once
    assert f"the served one is {other}" in log
    expected = served.estimator.predict_proba(changed.loc[ids])[:, 1]  # the new snapshot's values, explained now
    np.testing.assert_allclose([g["probability"] for g in got], expected, rtol=1e-6)
    before = [client.post("/churn", json=b).json()["probability"] for b in bodies]
    assert not np.allclose(before, expected, rtol=1e-6)  # the stored answers would have been wrong
    assert all(g["snapshot_as_of"] == "2024-07-31" and len(g["reasons"]) == 3 for g in got)
