"""Price elasticities at the demo's size: 20,000 simulated customers of seed 0, as ``cxml demo`` generates them.

Seed 0 is the hard company: its app channel moved its price by 0.5 % all year, so the app cells carry almost no
price variation (tests/quality/test_price_simulated.py). Without pooling the family's elasticity model put those
cells between −12 and +2 and its held-out elasticity MAE was 0.95 with the shipped defaults (0.53 through
``cxml train price`` after tuning, whose gate then refused a surely-positive cell). Pooling each block of effects
by empirical Bayes (:mod:`cxml.models.price_pooling`) lets them borrow from the other channels.

The model is the family's (``PriceDML`` with its defaults, the shipped ``pipelines/price.yaml`` cells), fitted on
the training cell-weeks and scored on the held-out ones against ``truth/elasticities``, exactly as the family's
``metrics`` score a run; about 30 s on 2 shared vCPUs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxml.config import load_pipeline
from cxml.data.sources import read_tables, read_truth
from cxml.data.synthetic import write_company
from cxml.datasets.price import FAMILY
from cxml.models.price import SPEC, metrics, score

pytestmark = pytest.mark.quality
KEYS = ["segment", "channel", "time_bucket"]


@pytest.fixture(scope="module")
def company(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("company") / "co"
    write_company(folder, 20_000, seed=0)
    tables = read_tables(folder, ["orders", "products", "customers", "prices"])
    data = FAMILY.contract_dataset(tables, None, load_pipeline("price"), str(folder))
    return {"data": data, "truth": read_truth(folder)["elasticities"]}


def evaluate(company: dict, **params) -> dict[str, float]:
    data, truth = company["data"], company["truth"]
    model = SPEC.build(params).fit(data.X_train, data.y_train)
    held = metrics(data.y_holdout, score(model, data.X_holdout))
    cells = model.elasticity(truth[KEYS])
    t = truth["elasticity"].to_numpy()
    inside = (cells["elasticity_lower"].to_numpy() <= t) & (t <= cells["elasticity_upper"].to_numpy())
    out = {**held, "cells_mae": float(np.mean(np.abs(cells["elasticity"].to_numpy() - t)))}
    out["cells_coverage"], out["model"] = float(inside.mean()), model
    return out


@pytest.fixture(scope="module")
def pooled(company) -> dict:
    return evaluate(company)


def test_held_out_elasticity_error_is_at_most_0_3_with_honest_intervals(pooled):
    print(
        f"\n20,000 customers, seed 0, pooled: held-out MAE {pooled['elasticity_mae']:.3f}, coverage "
        f"{pooled['elasticity_coverage']:.3f}; 48 cells MAE {pooled['cells_mae']:.3f}, coverage "
        f"{pooled['cells_coverage']:.3f}"
    )
    print({k: round(float(v), 3) for k, v in pooled["model"].fitted_params().items() if k.startswith("pooling")})
    assert pooled["elasticity_mae"] <= 0.3 and pooled["cells_mae"] <= 0.3
    assert 0.8 <= pooled["elasticity_coverage"] <= 0.97 and 0.8 <= pooled["cells_coverage"] <= 0.97


def test_the_gate_sees_no_cell_whose_demand_surely_rises_with_price(pooled):
    assert pooled["elasticity_max_lower"] < 0


def test_pooling_is_what_gets_there(company, pooled):
    raw = evaluate(company, pooling=None)
    print(f"\nwithout pooling: held-out MAE {raw['elasticity_mae']:.3f}, coverage {raw['elasticity_coverage']:.3f}")
    assert raw["elasticity_mae"] > 0.6 > 2 * pooled["elasticity_mae"]
    params = pooled["model"].fitted_params()
    assert {"pooling.tau2.segment", "pooling.tau2.channel"} <= set(params)
    app = pd.DataFrame({"segment": ["loyal"], "channel": ["app"], "time_bucket": ["weekend"]})
    assert -2.0 < pooled["model"].elasticity(app)["elasticity"].iloc[0] < -0.5  # truth −0.79; unpooled ≈ −2.7 ± 3
