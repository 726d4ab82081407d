"""Recommended prices, property by property: floor, maximum change, fairness spread, optimality, intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from cxml.decision.pricing import PricingGuardrails, lerner_price, recommend_prices

pytestmark = pytest.mark.unit
RULES = PricingGuardrails(max_change=0.15, min_margin=0.2, fairness_spread=0.1)
GROUP = ["product", "channel"]


def random_cells(n_groups: int = 300, seed: int = 0) -> pd.DataFrame:
    """Four segments per product × channel at similar prices; elasticities −6 to −0.2; costs 20-110 % of price."""
    rng = np.random.default_rng(seed)
    n = 4 * n_groups
    e = rng.uniform(-6.0, -0.2, n)
    half = rng.uniform(0.05, 0.6, n)
    return pd.DataFrame(
        {
            "product": np.repeat(np.arange(n_groups) // 4, 4).astype(str),
            "channel": np.repeat(np.arange(n_groups) % 4, 4).astype(str),
            "segment": np.tile(["s1", "s2", "s3", "s4"], n_groups),
            "price": np.repeat(rng.uniform(5, 50, n_groups), 4) * rng.uniform(0.9, 1.2, n),
            "unit_cost": 0.0,
            "quantity": rng.uniform(1, 500, n),
            "elasticity": e,
            "elasticity_lower": e - half,
            "elasticity_upper": e + half,
        }
    ).assign(unit_cost=lambda f: f["price"] * rng.uniform(0.2, 1.1, n))


@pytest.fixture(scope="module")
def cells() -> pd.DataFrame:
    return random_cells()


@pytest.fixture(scope="module")
def out(cells) -> pd.DataFrame:
    return recommend_prices(cells, RULES, fairness_group=GROUP)


def test_never_below_the_floor(cells, out):
    floor = cells["unit_cost"] / (1 - RULES.min_margin)
    assert np.all(out["recommended_price"] >= floor * (1 - 1e-12))
    np.testing.assert_allclose(out["floor_price"], floor)


def test_never_beyond_the_maximum_change_unless_the_floor_requires_it(out):
    inside = out["constraint"] != "floor_over_max_change"
    assert np.all(out.loc[inside, "price_change"].abs() <= RULES.max_change + 1e-12)
    over = out[~inside]
    assert len(over) > 0  # some costs are above the reachable price: those rows sit at the floor
    np.testing.assert_allclose(over["recommended_price"], over["floor_price"])


def test_the_spread_between_segments_is_capped_in_every_fairness_group(cells, out):
    frame = cells[GROUP].assign(p=out["recommended_price"], met=out["fairness_met"])
    spread = frame.groupby(GROUP).agg(spread=("p", lambda p: p.max() / p.min() - 1), met=("met", "all"))
    assert spread.loc[spread["met"], "spread"].max() <= RULES.fairness_spread + 1e-9
    assert spread["met"].mean() > 0.3
    assert (out["constraint"] == "fairness").sum() > 0


def test_inelastic_cells_go_up_to_the_cap_without_fairness(cells):
    rules = RULES.model_copy(update={"fairness_spread": None})
    inelastic = cells[(cells["elasticity"] > -1) & (cells["unit_cost"] < cells["price"] * 0.6)]
    got = recommend_prices(inelastic, rules)
    np.testing.assert_allclose(got["recommended_price"], inelastic["price"] * (1 + rules.max_change))
    assert set(got["constraint"]) == {"max_increase"}


def test_an_interior_optimum_is_the_lerner_price_and_beats_every_allowed_price():
    cells = pd.DataFrame({"price": [10.0], "unit_cost": [6.0], "quantity": [100.0], "elasticity": [-3.0]})
    rules = PricingGuardrails(max_change=0.5, min_margin=0.0, fairness_spread=None)
    got = recommend_prices(cells, rules, lower=None, upper=None).iloc[0]
    assert got["recommended_price"] == pytest.approx(9.0)  # 6 · (−3) / (−2)
    assert got["constraint"] == "optimum"
    grid = np.linspace(5.0, 15.0, 2001)
    margin = (grid - 6.0) * 100 * (grid / 10.0) ** -3.0
    best = (got["recommended_price"] - 6.0) * 100 * (got["recommended_price"] / 10.0) ** -3.0
    assert best >= margin.max() - 1e-9
    assert got["margin_change"] == pytest.approx(best - 400.0)


def test_lerner_price_is_infinite_for_inelastic_demand():
    np.testing.assert_allclose(
        lerner_price(np.array([-2.0, -1.0, -0.5]), np.array([5.0, 5.0, 5.0])), [10, np.inf, np.inf]
    )


def test_the_fairness_band_maximises_the_groups_total_margin():
    cells = pd.DataFrame(
        {
            "price": [10.0, 10.0, 10.0],
            "unit_cost": [5.0, 5.0, 5.0],
            "quantity": [100.0, 60.0, 30.0],
            "elasticity": [-4.0, -2.0, -0.5],
        }
    )
    rules = PricingGuardrails(max_change=0.3, min_margin=0.0, fairness_spread=0.1)
    got = recommend_prices(cells, rules, lower=None, upper=None)
    prices = got["recommended_price"].to_numpy()
    assert prices.max() / prices.min() - 1 <= 0.1 + 1e-12

    q, e = cells["quantity"].to_numpy(), cells["elasticity"].to_numpy()
    grid = np.linspace(7.0, 13.0, 91)
    a, b, c = np.meshgrid(grid, grid, grid, indexing="ij")
    trio = np.stack([a.ravel(), b.ravel(), c.ravel()], axis=1)
    trio = trio[trio.max(axis=1) / trio.min(axis=1) <= 1.1]
    best = ((trio - 5.0) * q * (trio / 10.0) ** e).sum(axis=1).max()

    def total(p: np.ndarray) -> float:
        return float(((p - 5.0) * q * (p / 10.0) ** e).sum())

    assert total(prices) >= best - 1e-6 * abs(best)


def test_intervals_bracket_the_point_changes(cells, out):
    for name in ("volume", "revenue", "margin"):
        assert np.all(out[f"{name}_change_lower"] <= out[f"{name}_change"] + 1e-9)
        assert np.all(out[f"{name}_change"] <= out[f"{name}_change_upper"] + 1e-9)
    raised = (out["price_change"] > 0.01) & (cells["elasticity_upper"] < 0)
    assert raised.sum() > 100
    assert np.all(out.loc[raised, "volume_change_upper"] < 0)  # a price rise loses volume at every elasticity < 0


def test_the_input_is_not_mutated_and_the_index_is_kept(cells):
    before = cells.copy()
    shuffled = cells.sample(frac=1.0, random_state=3)
    got = recommend_prices(shuffled, RULES, fairness_group=GROUP)
    pd.testing.assert_frame_equal(cells, before)
    assert got.index.equals(shuffled.index)
    again = recommend_prices(cells, RULES, fairness_group=GROUP).loc[shuffled.index]
    np.testing.assert_allclose(got["recommended_price"], again["recommended_price"])


def test_groups_that_cannot_meet_the_spread_are_flagged_and_keep_their_guardrails():
    cells = pd.DataFrame(
        {
            "g": ["a", "a"],
            "price": [10.0, 20.0],
            "unit_cost": [1.0, 1.0],
            "quantity": [5.0, 5.0],
            "elasticity": [-2.0] * 2,
        }
    )
    got = recommend_prices(cells, RULES, fairness_group=["g"], lower=None, upper=None)
    assert set(got["constraint"]) == {"fairness_infeasible"}
    assert not got["fairness_met"].any()
    assert np.all(got["price_change"].abs() <= RULES.max_change + 1e-12)


def test_guardrails_are_validated():
    with pytest.raises(ValidationError):
        PricingGuardrails(max_change=1.5)
    with pytest.raises(ValidationError):
        PricingGuardrails(max_chnage=0.1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        RULES.max_change = 0.3  # type: ignore[misc]


def test_bad_cells_are_refused_naming_the_column_and_rows(cells):
    with pytest.raises(ValueError, match=r"column 'price' must be positive; 1 rows are not, e.g. rows \[2\]"):
        recommend_prices(cells.assign(price=cells["price"].where(cells.index != 2, -1.0)), RULES)
    with pytest.raises(ValueError, match="needs the column 'unit_cost'"):
        recommend_prices(cells.drop(columns="unit_cost"), RULES)
    with pytest.raises(ValueError, match=r"elasticity must lie inside"):
        recommend_prices(cells.assign(elasticity_lower=0.0), RULES)
