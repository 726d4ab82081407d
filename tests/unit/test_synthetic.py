"""The simulated company: deterministic, valid under the contract, and faithful to its documented truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxml.data.contract import CONTROL_ARM, validate_tables
from cxml.data.synthetic import CONTRACT_TABLES, TARGET_SHARE, Company, generate_company, write_company

pytestmark = pytest.mark.unit

END = "2026-01-01"


@pytest.fixture(scope="module")
def company() -> Company:
    return generate_company(n_customers=1500, seed=7)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.parquet"))}


def test_same_seed_writes_byte_identical_files(tmp_path: Path) -> None:
    first = write_company(tmp_path / "a", n_customers=600, seed=3, chunk_customers=250)
    second = write_company(tmp_path / "b", n_customers=600, seed=3, chunk_customers=250, progress=True)
    assert first == second
    files_a, files_b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert set(files_a) >= {f"{t}.parquet" for t in CONTRACT_TABLES} | {"truth/customers.parquet"}
    assert files_a == files_b


def test_different_seed_gives_different_data(tmp_path: Path) -> None:
    write_company(tmp_path / "a", n_customers=300, seed=1)
    write_company(tmp_path / "b", n_customers=300, seed=2)
    assert (tmp_path / "a/orders.parquet").read_bytes() != (tmp_path / "b/orders.parquet").read_bytes()


def test_write_company_leaves_no_temporary_folder(tmp_path: Path) -> None:
    counts = write_company(tmp_path / "out", n_customers=200, seed=0)
    write_company(tmp_path / "out", n_customers=200, seed=0)  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert counts["customers"] == 200
    assert pd.read_parquet(tmp_path / "out/orders.parquet").shape[0] == counts["orders"]


def test_written_files_match_generate_company(tmp_path: Path) -> None:
    write_company(tmp_path / "out", n_customers=300, seed=5)
    in_memory = generate_company(n_customers=300, seed=5)
    for name in ("customers", "orders", "events"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"out/{name}.parquet"), in_memory.tables[name])


def test_tables_pass_the_contract(company: Company) -> None:
    validate_tables(company.tables, now=pd.Timestamp(END))


def test_timestamps_lie_inside_the_period(company: Company) -> None:
    for name, col in (
        ("orders", "ts"),
        ("events", "ts"),
        ("service_contacts", "ts"),
        ("exposures", "sent_at"),
    ):
        ts = company.tables[name][col]
        assert ts.min() >= pd.Timestamp("2025-01-01")
        assert ts.max() < pd.Timestamp(END)
        assert ts.dt.tz is None


def test_exposures_only_for_consenting_customers(company: Company) -> None:
    customers = company.tables["customers"].set_index("customer_id")
    exposed = company.tables["exposures"]["customer_id"]
    assert customers.loc[exposed, "consent_marketing"].all()


def test_arms_are_randomised_with_the_documented_control_share(company: Company) -> None:
    exposures = company.tables["exposures"]
    control_share = (exposures["arm"] == CONTROL_ARM).mean()
    assert abs(control_share - 0.3) < 0.03
    consenting = company.tables["customers"]["consent_marketing"].mean()
    per_campaign = exposures.groupby("campaign_id").size() / len(company.tables["customers"])
    assert (per_campaign < TARGET_SHARE * consenting + 0.05).all()
    assert 4 <= exposures["campaign_id"].nunique() <= 6
    assert exposures.groupby("campaign_id")["arm"].nunique().between(3, 4).all()


def test_churned_customers_stop_buying(company: Company) -> None:
    truth = company.truth["customers"].set_index("customer_id")
    orders = company.tables["orders"]
    churned_at = truth["churned_at"].reindex(orders["customer_id"]).to_numpy()
    after = pd.notna(churned_at) & (orders["ts"].to_numpy() >= churned_at)
    assert not after.any()
    assert truth["churned_at"].notna().mean() > 0.1


def test_true_effects_include_sleeping_dogs_and_persuadables(company: Company) -> None:
    effects = company.truth["effects"]
    assert (effects["true_effect"] < -0.02).any()
    assert (effects["true_effect"] > 0.05).any()
    assert set(effects["assigned_arm"]) >= {CONTROL_ARM}
    assert CONTROL_ARM not in set(effects["arm"])


def test_order_volume_matches_the_documented_scale(company: Company) -> None:
    orders = company.tables["orders"]
    n = len(company.tables["customers"])
    assert 14 <= len(orders) / n <= 26
    lines_per_order = orders.groupby("order_id").size().mean()
    assert 1.5 <= lines_per_order <= 3.0
    assert orders["quantity"].min() >= 1
    assert 0.03 <= orders["returned"].mean() <= 0.08
    assert 0.5 <= len(company.tables["service_contacts"]) / n <= 2.5


def test_unit_price_comes_from_the_prices_table(company: Company) -> None:
    orders = company.tables["orders"].sort_values("ts")
    prices = company.tables["prices"].sort_values("valid_from")
    joined = pd.merge_asof(
        orders,
        prices,
        left_on="ts",
        right_on="valid_from",
        by=["product_id", "channel"],
        direction="backward",
    )
    np.testing.assert_allclose(joined["unit_price"], joined["price"])


def test_some_events_arrive_with_only_a_linked_cookie(company: Company) -> None:
    events, identities = company.tables["events"], company.tables["identities"]
    anonymous = events[events["customer_id"].isna()]
    linked = identities.dropna(subset=["customer_id"])["identifier"]
    assert anonymous["identifier"].isin(linked).any()
    assert (~anonymous["identifier"].isin(linked)).any()  # never-linked cookies


def test_truth_tables_are_complete(company: Company) -> None:
    truth = company.truth
    assert {"customers", "effects", "elasticities", "affinities"} <= set(truth)
    assert len(truth["customers"]) == len(company.tables["customers"])
    assert (truth["elasticities"]["elasticity"] < 0).all()
    assert truth["elasticities"].groupby("segment")["elasticity"].mean().nunique() == 4
