"""The customer journey on hand-built tables: every stage, stitch, rate, median and transition worked out by hand."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from cxml.journey import (
    STAGES,
    channel_flows,
    convert_summary,
    customer_journeys,
    funnel,
    open_source,
    segment_labels,
    stitching,
    time_to_convert,
    write_journey,
)

pytestmark = pytest.mark.unit

AS_OF = pd.Timestamp("2025-06-01")
T = pd.Timestamp


def tables() -> dict[str, pd.DataFrame]:
    """C1 walks the whole funnel (starting on a stitched cookie), C2 only returns an order, C3 signs up after as_of;
    cookie ck_b never links to anyone. Rows at or after as_of are decoys."""
    customers = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3"],
            "signup_at": [T("2025-01-10"), T("2025-02-01"), T("2025-07-01")],
            "region": ["north", "south", "north"],
            "preferred_channel": ["web", "store", "app"],
        }
    )
    identities = pd.DataFrame(
        {
            "identifier": ["ck_a", "ck_b", "dv_c", "em_1"],
            "identifier_type": ["cookie", "cookie", "device", "email_hash"],
            "customer_id": ["C1", None, "C3", "C1"],
        }
    )
    events = pd.DataFrame(
        [
            ("ck_a", None, T("2025-01-05 09:00"), "visit", "chrome"),  # stitched: C1's first visit
            ("ck_a", None, T("2025-01-06 09:00"), "visit", "chrome"),  # stitched, same channel: collapses
            ("em_1", "C1", T("2025-01-12 10:00"), "visit", "app"),  # logged in, in the app
            ("em_1", "C1", T("2025-06-02 10:00"), "visit", "app"),  # after as_of
            ("ck_b", None, T("2025-03-01 09:00"), "visit", "firefox"),  # left anonymous
            ("ck_b", None, T("2025-03-01 09:05"), "view", "firefox"),
            ("dv_c", None, T("2025-04-01 12:00"), "visit", "app"),  # links to C3, not a customer yet
            (None, "C2", AS_OF, "visit", "chrome"),  # exactly at as_of: not counted
        ],
        columns=["identifier", "customer_id", "ts", "event_type", "browser"],
    )
    orders = pd.DataFrame(
        [
            ("O1", "C1", T("2025-01-20 12:00"), "web", True),  # returned line
            ("O1", "C1", T("2025-01-20 12:00"), "web", False),  # kept line: first purchase
            ("O2", "C1", T("2025-02-05 12:00"), "store", False),  # repeat, last purchase
            ("O3", "C2", T("2025-05-20 12:00"), "phone", True),  # only returned: a touch, not a purchase
            ("O4", "C2", AS_OF, "web", False),  # at as_of
        ],
        columns=["order_id", "customer_id", "ts", "channel", "returned"],
    )
    service = pd.DataFrame(
        [
            ("C1", T("2025-02-10 08:00"), "phone", np.nan),
            ("C1", T("2025-03-01 08:00"), "email", 4.0),
            ("C2", T("2025-06-05 08:00"), "chat", 5.0),  # after as_of
        ],
        columns=["customer_id", "ts", "channel", "survey_score"],
    )
    return {
        "customers": customers,
        "identities": identities,
        "events": events,
        "orders": orders,
        "service_contacts": service,
    }


@pytest.fixture(scope="module")
def journeys() -> pd.DataFrame:
    return customer_journeys(tables(), as_of=AS_OF, threads=1)


def test_every_stage_timestamp_of_a_customer(journeys):
    c1 = journeys.set_index("journey_id").loc["C1"]
    assert c1["first_visit_at"] == T("2025-01-05 09:00")  # the stitched cookie visit, before sign-up
    assert c1["identified_at"] == T("2025-01-10")  # sign-up beats the first logged-in event
    assert c1["first_purchase_at"] == T("2025-01-20 12:00")
    assert c1["repeat_purchase_at"] == T("2025-02-05 12:00")
    assert c1["service_contact_at"] == T("2025-02-10 08:00")
    assert c1["survey_answer_at"] == T("2025-03-01 08:00")  # the first contact had no score
    assert c1["churned_at"] == T("2025-02-05 12:00") + pd.Timedelta(days=90)
    assert c1["first_channel"] == "web"
    assert (c1["events"], c1["anonymous_events"], c1["first_visit_stitched"]) == (3, 2, True)


def test_nothing_at_or_after_as_of_counts(journeys):
    c2 = journeys.set_index("journey_id").loc["C2"]
    assert pd.isna(c2["first_visit_at"])  # the visit at as_of is left out
    assert pd.isna(c2["first_purchase_at"])  # returned-only order before, kept order at as_of
    assert pd.isna(c2["service_contact_at"]) and pd.isna(c2["churned_at"])
    assert c2["identified_at"] == T("2025-02-01") and c2["first_channel"] == "phone"
    assert "C3" not in set(journeys["customer_id"].dropna())  # signed up after as_of


def test_a_later_as_of_sees_the_later_rows():
    later = customer_journeys(tables(), as_of="2025-06-10", threads=1).set_index("journey_id").loc["C2"]
    assert later["first_visit_at"] == AS_OF and later["first_purchase_at"] == AS_OF


def test_anonymous_journeys_are_identifiers_without_a_customer(journeys):
    anon = journeys[journeys["anonymous"]].set_index("journey_id")
    assert list(anon.index) == ["C3", "ck_b"]  # C3 is not a customer before as_of: its device stays anonymous
    assert anon.loc["ck_b", "events"] == 2 and anon.loc["ck_b", "first_visit_at"] == T("2025-03-01 09:00")
    assert anon.loc["C3", "first_channel"] == "app"
    assert anon[[f"{s}_at" for s in STAGES[1:]]].isna().all().all()


def test_stitching_numbers(journeys):
    s = stitching(journeys).set_index("measure")["value"]
    assert s["journeys"] == 4 and s["customer_journeys"] == 2
    assert s["journeys_stitched"] == 1 and s["journeys_starting_stitched"] == 1
    assert s["journeys_left_anonymous"] == 2
    assert (s["events"], s["anonymous_events"], s["stitched_events"], s["events_left_anonymous"]) == (6, 5, 2, 3)
    assert s["stitched_share"] == pytest.approx(2 / 5)


def test_funnel_counts_conversion_and_medians_by_hand(journeys):
    f = funnel(journeys).set_index("stage")
    assert list(f["reached"]) == [3, 1, 1, 1, 1, 1, 1]  # every stage before it too: never wider
    assert list(f["out_of_order"]) == [0, 1, 0, 0, 0, 0, 0]  # C2 signed up but never visited: counted apart
    assert list(f["before_previous"]) == [0] * 7
    assert f.loc["first_visit", "share"] == pytest.approx(3 / 4)
    assert f.loc["identified", "conversion"] == pytest.approx(1 / 3)  # of 3 visitors only C1 is identified
    assert f.loc["first_purchase", "conversion"] == pytest.approx(1.0)  # C2's sign-up is out of order
    assert f.loc["identified", "median_days"] == pytest.approx(4 + 15 / 24)  # Jan 5 09:00 -> Jan 10
    assert f.loc["first_purchase", "median_days"] == pytest.approx(10.5)
    assert f.loc["repeat_purchase", "median_days"] == pytest.approx(16)
    assert f.loc["churned", "median_days"] == pytest.approx(
        (T("2025-02-05 12:00") + pd.Timedelta(days=90) - T("2025-03-01 08:00")) / pd.Timedelta(days=1)
    )
    assert np.isnan(f.loc["first_visit", "conversion"])


def test_funnel_never_widens_and_its_days_are_never_negative():
    """A customer who signed up a year before their first recorded visit stays in the funnel, counted as
    identified before the previous stage, and left out of the median days."""
    t = tables()
    t["customers"].loc[t["customers"]["customer_id"] == "C2", "signup_at"] = T("2024-01-01")
    extra = pd.DataFrame([(None, "C2", T("2025-03-01 09:00"), "visit", "chrome")], columns=t["events"].columns)
    t["events"] = pd.concat([t["events"], extra], ignore_index=True)
    f = funnel(customer_journeys(t, as_of=AS_OF, threads=1)).set_index("stage")
    assert (f["reached"].diff().dropna() <= 0).all()
    assert f.loc["identified", ["reached", "out_of_order", "before_previous"]].tolist() == [2, 0, 1]
    assert f.loc["identified", "median_days"] == pytest.approx(4 + 15 / 24)  # C1 only
    assert (f["median_days"].dropna() >= 0).all()


def test_funnel_per_segment(journeys):
    seg = funnel(journeys, segment_labels(journeys, "region"), dimension="region")
    ident = seg[seg["stage"] == "identified"].set_index("segment")
    assert list(ident.index) == ["(anonymous)", "north", "south"]
    assert list(ident["journeys"]) == [2, 1, 1]
    assert ident.loc["(anonymous)", "conversion"] == 0.0 and ident.loc["north", "conversion"] == 1.0
    assert np.isnan(ident.loc["south", "conversion"])  # C2 never visited


def test_behavioural_segment_series(journeys):
    labels = segment_labels(journeys, pd.Series({"C1": "loyal"}, name="behaviour"))
    assert list(labels) == ["loyal", "(unknown)", "(anonymous)", "(anonymous)"]
    with pytest.raises(ValueError, match="duplicate customer ids"):
        segment_labels(journeys, pd.Series(["a", "b"], index=["C1", "C1"]))
    with pytest.raises(ValueError, match="'tier' is not a journey column"):
        segment_labels(journeys, "tier")


def test_channel_transitions_by_hand():
    with open_source(tables(), as_of=AS_OF, threads=1) as src:
        flows = channel_flows(src, max_steps=5)
    # C1: web, web (collapsed), app, web order, store order, phone contact, email contact -> first 5 steps
    got = {(r.step, r.source, r.target): r.journeys for r in flows.transitions.itertuples()}
    assert got == {(1, "web", "app"): 1, (2, "app", "web"): 1, (3, "web", "store"): 1, (4, "store", "phone"): 1}
    nodes = {(r.step, r.channel): r.journeys for r in flows.nodes.itertuples()}
    assert nodes == {
        (1, "web"): 2,  # C1 and cookie ck_b
        (1, "app"): 1,  # C3's device
        (1, "phone"): 1,  # C2's returned order
        (2, "app"): 1,
        (3, "web"): 1,
        (4, "store"): 1,
        (5, "phone"): 1,
    }


def test_time_to_convert(journeys):
    hist = time_to_convert(journeys)
    assert hist["journeys"].sum() == 1
    row = hist[hist["journeys"] == 1].iloc[0]
    assert (row["lower_days"], row["upper_days"]) == (14, 30)  # 15.125 days
    summary = convert_summary(journeys)
    assert summary["median_days"] == pytest.approx(15 + 3 / 24)
    assert summary["bought_before_first_visit"] == 0 and summary["bought_without_visit"] == 0


def test_parquet_folder_gives_the_same_journeys(tmp_path, journeys):
    for name, frame in tables().items():
        frame.to_parquet(tmp_path / f"{name}.parquet", index=False)
    from_files = customer_journeys(tmp_path, as_of=AS_OF, threads=1)
    pd.testing.assert_frame_equal(from_files, journeys)


def test_default_as_of_is_midnight_after_the_last_row():
    with open_source(tables(), threads=1) as src:
        assert src.as_of == T("2025-06-06")


@pytest.mark.parametrize(
    ("table", "change", "message"),
    [
        ("events", lambda f: f.drop(columns="ts"), r"table 'events' lacks column\(s\) \['ts'\]"),
        ("events", lambda f: f.assign(ts=f["ts"].astype("str")), r"table 'events' column 'ts' must hold timestamps"),
        (
            "events",
            lambda f: f.assign(identifier=f["identifier"].where(f.index != 4, None)),
            r"table 'events' column 'identifier,customer_id'.*\n.*\n.*None +None +2025-03-01 09:00:00",
        ),
        ("orders", lambda f: f.assign(customer_id=None), r"table 'orders' column 'customer_id': null customer_id"),
        ("customers", lambda f: f.drop(columns="region"), r"table 'customers' lacks column\(s\) \['region'\]"),
    ],
)
def test_bad_input_names_table_column_and_rows(table, change, message):
    bad = tables()
    bad[table] = change(bad[table])
    with pytest.raises(ValueError, match=message):
        customer_journeys(bad, as_of=AS_OF, threads=1)


def test_missing_table_is_named():
    bad = tables()
    del bad["service_contacts"]
    with pytest.raises(ValueError, match="needs table 'service_contacts'"):
        customer_journeys(bad, as_of=AS_OF, threads=1)


def test_write_journey_files_and_offline_page(tmp_path):
    segment = tmp_path / "seg.csv"
    pd.DataFrame({"customer_id": ["C1", "C2"], "tier": ["gold", "basic"]}).to_csv(segment, index=False)
    out = tmp_path / "journey"
    result = write_journey(tables(), out, as_of=AS_OF, segment=segment, churn_days=90, threads=1)
    assert result.summary["stages"]["first_visit"] == 3 and result.summary["stitching"]["journeys_stitched"] == 1
    assert set(result.tables["segments"]["dimension"]) == {"tier", "first_channel"}
    for name in ("funnel", "segments", "flow_nodes", "flow_transitions", "time_to_convert", "stitching"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / f"{name}.parquet"), result.tables[name], check_dtype=False)
        assert len(pd.read_csv(out / f"{name}.csv")) == len(result.tables[name])
    assert sorted(p.name for p in out.iterdir()) == sorted([*result.files, "journey.html"])  # no temp files left
    html = result.html.read_text()
    assert html.count("<svg") == 3 and html.count("<path") == 4  # funnel, Sankey (4 bands), histogram
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", html)  # nothing to fetch
    assert "gold" in html


def test_tz_aware_timestamps_read_as_utc(journeys):
    aware = tables()
    for name, column in (("customers", "signup_at"), ("events", "ts"), ("orders", "ts"), ("service_contacts", "ts")):
        aware[name] = aware[name].assign(**{column: aware[name][column].dt.tz_localize("UTC")})
    got = customer_journeys(aware, as_of=AS_OF.tz_localize("UTC"), threads=1)
    pd.testing.assert_frame_equal(got, journeys)


def test_an_events_channel_column_replaces_the_browser_rule():
    own = tables()
    own["events"] = own["events"].drop(columns="browser").assign(channel="Kiosk")
    with open_source(own, as_of=AS_OF, threads=1) as src:
        flows = channel_flows(src, max_steps=3)
    assert set(flows.nodes.loc[flows.nodes["step"] == 1, "channel"]) == {"kiosk", "phone"}
