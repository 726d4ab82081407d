"""Identity resolution links co-occurring identifiers and attributes anonymous events."""

from __future__ import annotations

import pandas as pd
import pytest

from cxml.data.identity import attribute_events, resolve_identities

pytestmark = pytest.mark.unit


@pytest.fixture
def identities() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "identifier": ["em_a", "ck_1", "ck_2", "ck_orphan", "em_b", "lc_b"],
            "identifier_type": ["email_hash", "cookie", "cookie", "cookie", "email_hash", "loyalty_card"],
            "customer_id": ["C1", None, "C1", None, "C2", "C2"],
        }
    )


@pytest.fixture
def links() -> pd.DataFrame:
    return pd.DataFrame({"identifier_a": ["ck_1", "dv_9"], "identifier_b": ["em_a", "lc_b"]})


@pytest.fixture
def events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "identifier": ["ck_1", "ck_orphan", "ck_2", "dv_9"],
            "customer_id": pd.array([None, None, "C1", None], dtype="str"),
            "ts": pd.to_datetime(["2025-02-01", "2025-02-02", "2025-02-03", "2025-02-04"]),
        }
    )


def _resolved(frame: pd.DataFrame) -> dict[str, object]:
    return dict(zip(frame["identifier"], frame["customer_id"], strict=True))


def test_cooccurring_identifiers_resolve_to_one_customer(identities, links) -> None:
    resolved = _resolved(resolve_identities(identities, links))
    assert resolved["ck_1"] == resolved["em_a"] == resolved["ck_2"] == "C1"
    assert resolved["dv_9"] == resolved["em_b"] == "C2"


def test_every_identifier_appears_once(identities, links) -> None:
    resolved = resolve_identities(identities, links)
    assert resolved["identifier"].is_unique
    assert set(resolved["identifier"]) == set(identities["identifier"]) | {"dv_9"}


def test_a_link_between_two_customers_merges_them_to_the_smallest_id(identities) -> None:
    links = pd.DataFrame({"identifier_a": ["em_a"], "identifier_b": ["em_b"]})
    resolved = _resolved(resolve_identities(identities, links))
    assert resolved["lc_b"] == resolved["em_a"] == "C1"


def test_cookie_only_event_is_attributed(events, identities, links) -> None:
    out = attribute_events(events, identities, links)
    assert out.loc[out["identifier"] == "ck_1", "customer_id"].item() == "C1"
    assert out.loc[out["identifier"] == "dv_9", "customer_id"].item() == "C2"
    assert out.loc[out["identifier"] == "ck_2", "customer_id"].item() == "C1"


def test_never_linked_cookie_stays_unattributed(events, identities, links) -> None:
    out = attribute_events(events, identities, links)
    assert pd.isna(out.loc[out["identifier"] == "ck_orphan", "customer_id"].item())


def test_inputs_are_not_mutated(events, identities, links) -> None:
    before = (events.copy(), identities.copy(), links.copy())
    resolve_identities(identities, links)
    attribute_events(events, identities, links)
    for original, copy in zip((events, identities, links), before, strict=True):
        pd.testing.assert_frame_equal(original, copy)
