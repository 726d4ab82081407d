"""Point-in-time customer-360 features: leakage, registry coverage and hand-computed values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from cxml.features.build import FEATURE_SET, build_features
from cxml.features.registry import FEATURES, describe

pytestmark = pytest.mark.unit

AS_OF = pd.Timestamp("2025-06-01")
TIME_COLUMNS = {
    "customers": "signup_at",
    "orders": "ts",
    "events": "ts",
    "service_contacts": "ts",
    "campaigns": "start_at",
    "exposures": "sent_at",
    "prices": "valid_from",
}


def _ts(values: list[str]) -> pd.Series:
    return pd.Series(pd.to_datetime(values, format="ISO8601"), dtype="datetime64[us]")


def _str(values: list[str | None]) -> pd.Series:
    return pd.Series(values, dtype="str")


def tiny_tables() -> dict[str, pd.DataFrame]:
    """Three customers before AS_OF (C1 active, C2 new, C3 buys only after AS_OF) and C4 signing up after."""
    customers = pd.DataFrame(
        {
            "customer_id": _str(["C1", "C2", "C3", "C4"]),
            "signup_at": _ts(["2024-01-01", "2025-03-01", "2025-05-01", "2025-07-01"]),
            "region": _str(["north", "south", "east", "west"]),
            "birth_year": pd.array([1980, None, 1990, 2000], dtype="Int64"),
            "gender": _str(["f", None, "m", "f"]),
            "consent_marketing": [True, False, True, True],
            "consent_profiling": [True, True, False, True],
            "preferred_channel": _str(["web", "app", "store", "web"]),
        }
    )
    identities = pd.DataFrame(
        {
            "identifier": _str(["ck_1", "ck_x", "em_1"]),
            "identifier_type": _str(["cookie", "cookie", "email_hash"]),
            "customer_id": _str(["C2", None, "C1"]),
        }
    )
    products = pd.DataFrame(
        {
            "product_id": _str(["P1", "P2"]),
            "category": _str(["A", "B"]),
            "list_price": [10.0, 20.0],
            "unit_cost": [5.0, 10.0],
        }
    )
    rows = [
        # order, line, customer, ts, product, qty, price, discount, channel, campaign, returned
        ("O1", 0, "C1", "2025-05-22 10:00", "P1", 2, 9.0, 1.0, "web", None, False),
        ("O1", 1, "C1", "2025-05-22 10:00", "P2", 1, 20.0, 0.0, "web", None, True),
        ("O2", 0, "C1", "2025-02-01 20:00", "P1", 1, 10.0, 0.0, "store", "CMP1", False),
        ("O3", 0, "C1", "2025-06-05 12:00", "P2", 5, 20.0, 0.0, "web", None, False),
        ("O4", 0, "C2", "2025-05-31 23:00", "P2", 1, 18.0, 0.0, "app", None, False),
        ("O5", 0, "C3", "2025-06-10 09:00", "P1", 1, 10.0, 0.0, "store", "CMP2", False),
        ("O6", 0, "C4", "2025-07-05 09:00", "P1", 1, 10.0, 0.0, "web", None, False),
        ("O7", 0, "C2", "2025-06-01 00:00", "P1", 3, 10.0, 0.0, "phone", None, False),
    ]
    cols = list(zip(*rows, strict=True))
    orders = pd.DataFrame(
        {
            "order_id": _str(list(cols[0])),
            "line_no": np.array(cols[1], dtype="int64"),
            "customer_id": _str(list(cols[2])),
            "ts": _ts(list(cols[3])),
            "product_id": _str(list(cols[4])),
            "quantity": np.array(cols[5], dtype="int64"),
            "unit_price": np.array(cols[6], dtype="float64"),
            "discount": np.array(cols[7], dtype="float64"),
            "channel": _str(list(cols[8])),
            "campaign_id": _str(list(cols[9])),
            "returned": np.array(cols[10], dtype=bool),
        }
    )
    ev = [
        # identifier, customer, ts, type, device, os, referrer
        (None, "C1", "2025-05-30 08:00", "visit", "mobile", "ios", "organic"),
        ("ck_1", None, "2025-05-28 21:00", "visit", "desktop", "windows", "campaign"),
        ("ck_x", None, "2025-05-29 21:00", "visit", "desktop", "windows", "social"),
        (None, "C1", "2025-04-15 12:00", "search", "desktop", "macos", "direct"),
        (None, "C1", "2025-06-02 12:00", "visit", "mobile", "ios", "organic"),
    ]
    ecols = list(zip(*ev, strict=True))
    events = pd.DataFrame(
        {
            "identifier": _str(list(ecols[0])),
            "customer_id": _str(list(ecols[1])),
            "ts": _ts(list(ecols[2])),
            "event_type": _str(list(ecols[3])),
            "device": _str(list(ecols[4])),
            "os": _str(list(ecols[5])),
            "browser": _str(["safari", "chrome", "chrome", "safari", "safari"]),
            "referrer_type": _str(list(ecols[6])),
            "country": _str(["DE"] * 5),
        }
    )
    service_contacts = pd.DataFrame(
        {
            "contact_id": _str(["S1", "S2", "S3"]),
            "customer_id": _str(["C1", "C1", "C2"]),
            "ts": _ts(["2025-05-01", "2025-06-03", "2025-01-10"]),
            "channel": _str(["phone", "chat", "email"]),
            "reason": _str(["delivery", "billing", "other"]),
            "resolved": [False, False, True],
            "survey_score": [2.0, 1.0, 5.0],
            "sentiment": [-0.5, -0.9, np.nan],
        }
    )
    campaigns = pd.DataFrame(
        {
            "campaign_id": _str(["CMP1", "CMP2", "CMP3"]),
            "channel": _str(["email", "email", "app_push"]),
            "offer": _str(["sale", "voucher", "reminder"]),
            "start_at": _ts(["2025-01-25", "2025-05-25", "2025-06-02"]),
            "end_at": _ts(["2025-02-08", "2025-06-08", "2025-06-16"]),
            "cost_per_contact": [0.05, 0.05, 0.02],
            "incentive_cost": [4.0, 5.0, 0.0],
        }
    )
    exposures = pd.DataFrame(
        {
            "campaign_id": _str(["CMP1", "CMP1", "CMP2", "CMP3", "CMP2"]),
            "customer_id": _str(["C1", "C2", "C1", "C2", "C3"]),
            "arm": _str(["discount_10", "control", "voucher_5", "reminder", "voucher_5"]),
            "sent_at": _ts(["2025-01-25", "2025-01-25", "2025-05-25", "2025-06-02", "2025-05-25"]),
        }
    )
    return {
        "customers": customers,
        "identities": identities,
        "products": products,
        "orders": orders,
        "events": events,
        "service_contacts": service_contacts,
        "campaigns": campaigns,
        "exposures": exposures,
    }


def truncate(tables: dict[str, pd.DataFrame], as_of: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Every table without the rows stamped at or after as_of (timeless tables kept whole)."""
    out = {}
    for name, frame in tables.items():
        col = TIME_COLUMNS.get(name)
        out[name] = frame if col is None else frame.loc[frame[col] < as_of].reset_index(drop=True)
    return out


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return tiny_tables()


@pytest.fixture(scope="module")
def features(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return build_features(tables, AS_OF)


@pytest.fixture(scope="module")
def synthetic_tables() -> dict[str, pd.DataFrame]:
    synthetic = pytest.importorskip("cxml.data.synthetic")
    return dict(synthetic.generate_company(400, seed=7).tables)


def test_features_ignore_everything_at_or_after_as_of(tables: dict[str, pd.DataFrame]) -> None:
    full = build_features(tables, AS_OF)
    cut = build_features(truncate(tables, AS_OF), AS_OF)
    pd.testing.assert_frame_equal(full, cut)


@pytest.mark.parametrize("as_of", ["2025-04-01", "2025-09-15 13:30"])
def test_synthetic_company_features_ignore_the_future(synthetic_tables: dict[str, pd.DataFrame], as_of: str) -> None:
    ts = pd.Timestamp(as_of)
    full = build_features(synthetic_tables, ts)
    cut = build_features(truncate(synthetic_tables, ts), ts)
    assert len(full) > 100
    assert full["orders_total"].sum() > 0
    pd.testing.assert_frame_equal(full, cut)


def test_one_numeric_row_per_customer_signed_up_before_as_of(features: pd.DataFrame) -> None:
    assert list(features.index) == ["C1", "C2", "C3"]
    assert features.index.name == "customer_id"
    assert pd.api.types.is_string_dtype(features.index)
    for name, col in features.items():
        assert pd.api.types.is_float_dtype(col) or pd.api.types.is_integer_dtype(col), name
    assert features.shape[1] >= 20


def test_registry_covers_exactly_the_built_columns(features: pd.DataFrame) -> None:
    assert set(FEATURES) == set(features.columns)
    assert FEATURE_SET == "customer360_v1"


@pytest.mark.parametrize("name", sorted(FEATURES))
def test_describe_says_something_for_every_feature(name: str, features: pd.DataFrame) -> None:
    for value in [*features[name].tolist(), 0.0, 1.0, 0.5, 37.0, float("nan")]:
        sentence = describe(name, value)
        assert isinstance(sentence, str)
        assert sentence.strip()
        assert "{" not in sentence


def test_describe_renders_plain_words() -> None:
    assert describe("recency_days", 94) == "no purchase in 94 days"
    assert describe("share_mobile", 0.8) == "80% of visits on mobile"
    assert describe("recency_days", float("nan")) == "no purchases yet"
    assert describe("orders_30d", 1) == "1 order in the last 30 days"
    assert describe("orders_30d", 0) == "no orders in the last 30 days"
    assert describe("web_trend_30d", 1 / 3).startswith("web and app activity up 100%")
    with pytest.raises(KeyError, match="unknown feature"):
        describe("no_such_feature", 1.0)


def test_customer_with_orders_only_after_as_of_has_no_order_activity(features: pd.DataFrame) -> None:
    c3 = features.loc["C3"]
    assert math.isnan(c3["recency_days"])
    assert c3[["orders_30d", "orders_90d", "orders_365d", "orders_total", "category_breadth"]].sum() == 0
    assert c3["spend_365d"] == 0.0
    assert math.isnan(c3["avg_order_value"])
    assert math.isnan(c3["channel_share_store"])
    # C3 was sent CMP2 and ordered with it, but only after as_of: no response yet
    assert c3["response_share"] == 0.0


def test_recency_frequency_monetary_by_hand(features: pd.DataFrame) -> None:
    c1, c2 = features.loc["C1"], features.loc["C2"]
    assert c1["recency_days"] == pytest.approx(9 + 14 / 24)
    assert (c1["orders_30d"], c1["orders_90d"], c1["orders_365d"], c1["orders_total"]) == (1, 1, 2, 2)
    assert c1["spend_90d"] == pytest.approx(2 * 9.0 - 1.0)  # the returned line does not count
    assert c1["spend_365d"] == pytest.approx(17.0 + 10.0)
    assert c1["avg_order_value"] == pytest.approx(13.5)
    gap = (pd.Timestamp("2025-05-22 10:00") - pd.Timestamp("2025-02-01 20:00")) / pd.Timedelta(days=1)
    assert c1["mean_gap_days"] == pytest.approx(gap)
    assert c1["gap_ratio"] == pytest.approx((9 + 14 / 24) / gap)
    assert c1["tenure_days"] == pytest.approx((AS_OF - pd.Timestamp("2024-01-01")).days)
    # C2's order at exactly as_of is the future
    assert c2["recency_days"] == pytest.approx(1 / 24)
    assert (c2["orders_total"], c2["spend_365d"]) == (1, 18.0)
    assert math.isnan(c2["mean_gap_days"])


def test_shares_by_hand(features: pd.DataFrame) -> None:
    c1, c2 = features.loc["C1"], features.loc["C2"]
    assert c1["return_share"] == pytest.approx(1 / 3)
    assert c1["discount_share"] == pytest.approx(1 / 2)
    assert c1["channel_share_web"] == pytest.approx(0.5)
    assert c1["channel_share_store"] == pytest.approx(0.5)
    assert c1["channel_share_app"] == 0.0
    assert c1["share_evening"] == pytest.approx(0.5)  # O2 at 20:00
    assert c1["share_weekend"] == pytest.approx(0.5)  # 2025-02-01 is a Saturday
    assert c1["price_vs_list"] == pytest.approx((0.9 + 1.0) / 2)
    assert c1["campaign_order_share"] == pytest.approx(0.5)
    assert c1["category_breadth"] == 1  # the category-B line was returned
    assert c2["channel_share_app"] == 1.0
    assert c2["channel_share_phone"] == 0.0  # the phone order is at as_of


def test_web_service_campaign_and_consent_by_hand(features: pd.DataFrame) -> None:
    c1, c2 = features.loc["C1"], features.loc["C2"]
    assert (c1["web_visits_7d"], c1["web_visits_30d"], c1["web_searches_30d"]) == (1, 1, 0)
    assert c1["web_trend_30d"] == 0.0  # one event in each 30-day window
    assert c1["share_mobile"] == pytest.approx(0.5)
    assert c1["share_ios"] == pytest.approx(0.5)
    assert (c1["service_contacts_90d"], c1["unresolved_share"], c1["mean_survey_score"]) == (1, 1.0, 2.0)
    assert c1["mean_sentiment"] == -0.5
    assert (c2["service_contacts_90d"], c2["service_contacts_365d"], c2["unresolved_share"]) == (0, 1, 0.0)
    assert math.isnan(c2["mean_sentiment"])
    assert (c1["exposures_180d"], c1["exposures_total"], c1["response_share"]) == (2, 2, 0.5)
    assert c2["exposures_total"] == 0  # control arm and an exposure after as_of
    assert math.isnan(c2["response_share"])
    assert (c1["consent_marketing"], c2["consent_marketing"], c2["consent_profiling"]) == (1, 0, 1)


def test_cookie_only_event_is_attributed_through_identities(features: pd.DataFrame) -> None:
    c2 = features.loc["C2"]
    assert c2["web_visits_30d"] == 1
    assert c2["referrer_share_campaign"] == 1.0
    assert c2["days_since_web"] == pytest.approx(3 + 3 / 24)
    # the unlinked cookie's visit belongs to nobody
    assert features["web_visits_30d"].sum() == 2


def test_inputs_are_not_mutated(tables: dict[str, pd.DataFrame]) -> None:
    before = {name: frame.copy(deep=True) for name, frame in tables.items()}
    build_features(tables, AS_OF)
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(frame, before[name])


def test_parquet_directory_gives_the_same_features(tables: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    for name, frame in tables.items():
        frame.to_parquet(tmp_path / f"{name}.parquet", index=False)
    from_dir = build_features(tmp_path, AS_OF, threads=1)
    pd.testing.assert_frame_equal(from_dir, build_features(tables, AS_OF))


def test_nan_scores_in_parquet_count_as_missing(tables: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    """NumPy-written Parquet stores a missing score as NaN rather than null; both mean "not measured"."""
    for name, frame in tables.items():
        frame.to_parquet(tmp_path / f"{name}.parquet", index=False)
    extra = pd.DataFrame(
        {
            "contact_id": _str(["S4"]),
            "customer_id": _str(["C1"]),
            "ts": _ts(["2025-05-10"]),
            "channel": _str(["chat"]),
            "reason": _str(["other"]),
            "resolved": [True],
            "survey_score": [np.nan],
            "sentiment": [np.nan],
        }
    )
    contacts = pd.concat([tables["service_contacts"], extra], ignore_index=True)
    arrow = pa.Table.from_pandas(contacts, preserve_index=False)
    for col in ("survey_score", "sentiment"):
        values = pa.array(contacts[col].to_numpy(), from_pandas=False)
        arrow = arrow.set_column(arrow.schema.get_field_index(col), col, values)
    assert pc.sum(pc.is_nan(arrow["sentiment"])).as_py() == 2
    pq.write_table(arrow, tmp_path / "service_contacts.parquet")
    from_dir = build_features(tmp_path, AS_OF)
    expected = build_features({**tables, "service_contacts": contacts}, AS_OF)
    pd.testing.assert_frame_equal(from_dir, expected)
    assert from_dir.loc["C1", "mean_survey_score"] == 2.0
    assert from_dir.loc["C1", "mean_sentiment"] == -0.5


def test_timezone_aware_tables_give_the_same_features(tables: dict[str, pd.DataFrame]) -> None:
    aware = {
        name: frame.assign(
            **{c: frame[c].dt.tz_localize("UTC") for c in frame if pd.api.types.is_datetime64_any_dtype(frame[c])}
        )
        for name, frame in tables.items()
    }
    expected = build_features(tables, AS_OF)
    pd.testing.assert_frame_equal(build_features(aware, AS_OF), expected)
    pd.testing.assert_frame_equal(build_features(aware, AS_OF.tz_localize("UTC")), expected)


def test_missing_table_is_named(tables: dict[str, pd.DataFrame]) -> None:
    partial = {k: v for k, v in tables.items() if k != "events"}
    with pytest.raises(ValueError, match="events"):
        build_features(partial, AS_OF)


def test_features_are_bit_identical_across_runs_so_the_dataset_digest_is_stable():
    """Parallel sums of doubles differ in their last bits between runs; the digest names the study to resume."""
    from cxml.data.synthetic import generate_company
    from cxml.tracking import frame_digest

    tables = generate_company(n_customers=20_000, seed=0).tables  # ~420 k order lines: several DuckDB threads
    digests = {frame_digest(build_features(tables, "2025-10-01", threads=2)) for _ in range(8)}
    assert len(digests) == 1


def test_category_breadth_counts_past_the_bit_mask_and_channels_ignore_case(tables: dict[str, pd.DataFrame]) -> None:
    """Breadth is a 63-bit mask per order plus a second count beyond it: 70 categories must all be counted."""
    n = 70
    products = pd.DataFrame(
        {
            "product_id": _str([f"Q{i:02d}" for i in range(n)]),
            "category": _str([f"cat{i:02d}" for i in range(n)]),
            "list_price": np.full(n, 10.0),
            "unit_cost": np.full(n, 5.0),
        }
    )
    # C1 buys every category (one order per product, two lines each of which one is returned) in upper case "WEB".
    orders = pd.DataFrame(
        {
            "order_id": _str([f"X{i:02d}" for i in range(n) for _ in range(2)]),
            "line_no": np.tile(np.array([0, 1], dtype="int64"), n),
            "customer_id": _str(["C1"] * (2 * n)),
            "ts": _ts(["2025-05-20 10:00"] * (2 * n)),
            "product_id": _str([f"Q{i:02d}" for i in range(n) for _ in range(2)]),
            "quantity": np.ones(2 * n, dtype="int64"),
            "unit_price": np.full(2 * n, 10.0),
            "discount": np.zeros(2 * n),
            "channel": _str(["WEB"] * (2 * n)),
            "campaign_id": _str([None] * (2 * n)),
            "returned": np.tile(np.array([False, True]), n),
        }
    )
    out = build_features({**tables, "products": products, "orders": orders}, AS_OF).loc["C1"]
    assert out["category_breadth"] == n
    assert out["orders_365d"] == n
    assert out["channel_share_web"] == 1.0
    assert out["return_share"] == pytest.approx(0.5)
