"""Demand models: the monotone GBM never raises demand with price; what-if curves; the log-log baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from cxml.models.demand import LogLogDemand, MonotoneDemandGBM

pytestmark = pytest.mark.unit


def demand(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Prices are set high where demand is high (store size), so price and sales correlate positively."""
    rng = np.random.default_rng(seed)
    size = rng.lognormal(0, 0.6, n)
    region = rng.choice(["north", "south", "east"], n)
    price = np.exp(0.3 * np.log(size) + rng.normal(0, 0.15, n)) * 10
    log_q = 2 + 1.5 * np.log(size) - 1.2 * np.log(price / 10) + (region == "south") * 0.3 + rng.normal(0, 0.2, n)
    return pd.DataFrame({"size": size, "region": region, "price": price, "log_q": log_q})


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return demand()


@pytest.fixture(scope="module")
def model(data) -> MonotoneDemandGBM:
    return MonotoneDemandGBM(n_estimators=300).fit(data[["size", "region"]], data["log_q"], price=data["price"])


def test_raising_the_price_never_raises_predicted_demand_on_any_row(model, data):
    rows = data[["size", "region"]].sample(200, random_state=1)
    grid = np.linspace(2.0, 40.0, 60)
    curves = model.what_if(rows, grid)
    wide = curves.pivot(index="row", columns="price", values="log_quantity")
    assert np.all(np.diff(wide.to_numpy(), axis=1) <= 1e-12)
    assert np.any(np.diff(wide.to_numpy(), axis=1) < 0)  # and it does respond to price


def test_the_unconstrained_relation_in_the_data_goes_up_with_price(data):
    assert np.corrcoef(np.log(data["price"]), data["log_q"])[0, 1] > 0.3


def test_what_if_returns_one_row_per_row_and_price_with_quantity_as_exp_log(model, data):
    rows = data[["size", "region"]].iloc[[3, 10]]
    curves = model.what_if(rows, [8.0, 10.0, 12.0])
    assert list(curves.columns) == ["row", "price", "log_quantity", "quantity"]
    assert curves["row"].tolist() == [3, 3, 3, 10, 10, 10]
    np.testing.assert_allclose(curves["quantity"], np.exp(curves["log_quantity"]))
    direct = model.predict(rows, price=[12.0, 12.0])
    np.testing.assert_allclose(curves.loc[curves["price"] == 12.0, "log_quantity"], direct)


def test_what_if_accepts_a_grid_per_row(model, data):
    rows = data[["size", "region"]].head(2)
    grid = np.array([[5.0, 6.0], [20.0, 30.0]])
    curves = model.what_if(rows, grid)
    assert curves["price"].tolist() == [5.0, 6.0, 20.0, 30.0]
    with pytest.raises(ValueError, match="prices must be 1-D"):
        model.what_if(rows, np.ones((3, 2)))


def test_arc_elasticity_is_never_positive_and_predictions_fit_held_out_rows(model):
    test = demand(500, seed=9)
    X = test[["size", "region"]]
    assert np.all(model.arc_elasticity(X, price=test["price"]) <= 0)
    rmse = np.sqrt(np.mean((model.predict(X, price=test["price"]) - test["log_q"]) ** 2))
    assert rmse < 0.3


def test_bad_prices_and_a_log_price_feature_are_refused(data):
    X, y = data[["size", "region"]], data["log_q"]
    with pytest.raises(ValueError, match=r"price must be positive and finite, e.g. rows \[4\]"):
        MonotoneDemandGBM().fit(X, y, price=data["price"].where(data.index != 4, 0.0))
    with pytest.raises(ValueError, match="must not contain 'log_price'"):
        MonotoneDemandGBM().fit(X.assign(log_price=1.0), y, price=data["price"])


def test_same_seed_same_curves(data):
    X, y, p = data[["size", "region"]], data["log_q"], data["price"]
    a = MonotoneDemandGBM(n_estimators=100, random_state=5).fit(X, y, price=p)
    b = clone(a).fit(X, y, price=p)
    np.testing.assert_array_equal(a.predict(X, price=p), b.predict(X, price=p))


def test_log_log_recovers_a_constant_elasticity_with_controls(data):
    base = LogLogDemand().fit(
        data[["region"]].assign(log_size=np.log(data["size"])), data["log_q"], price=data["price"]
    )
    assert base.elasticity_ == pytest.approx(-1.2, abs=0.05)
    assert 0 < base.elasticity_se_ < 0.05
    assert base.effect(data.head(3)).tolist() == [base.elasticity_] * 3
    naive = LogLogDemand().fit(None, data["log_q"], price=data["price"])
    assert naive.elasticity_ > 0  # without the demand shifter the slope has the wrong sign
    curves = base.what_if(data[["region"]].assign(log_size=0.0).head(1), [10.0, 20.0])
    assert curves["log_quantity"].diff().iloc[1] == pytest.approx(-1.2 * np.log(2), abs=0.08)
