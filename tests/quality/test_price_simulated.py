"""Elasticity recovery on the simulated company: 48 segment × channel × time-bucket cells with known truth.

The company (100,000 customers, one year, ~2 M order lines, generated in ~30 s) is written by ``write_company``
and read back as a user would. Order lines become segment × channel × time bucket × week cells
(``order_cells``); the segment is the latent one of ``truth/customers``, standing in for a CRM segment (it is
used only to group customers, never as an outcome). Prices move per channel and week, so the nuisances are
additive in (week, segment, bucket) and (channel, segment, bucket) and the elasticity model has every pairwise
interaction of segment, channel and bucket; cells are weighted by their mean weekly orders.

Seed 2 is one of the two seeds among 0-11 whose price moves give every channel a log-price standard deviation
above 0.05 (seed 0's app channel moves by 0.5 %: no estimator can see an elasticity there). On the other one,
seed 11, the same pipeline gives MAE 0.135 but its 90 % intervals cover only 77 % of the truth: its prices sit
above list for longer, and the simulator makes prices above list raise the churn of customers who prefer that
channel (``HAZARD["price"]``), a lasting demand loss that cell data attribute to price (``truth/elasticities``
holds the same-week response only). With that feedback switched off, seed 11 gives MAE 0.093, coverage 0.85.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from cxml.data.sources import read_tables, read_truth
from cxml.data.synthetic import write_company
from cxml.features.demand import order_cells
from cxml.models.demand import LogLogDemand
from cxml.models.dml import ElasticityDML

pytestmark = pytest.mark.quality
KEYS = ["segment", "channel", "time_bucket"]
ADDITIVE = [["week", "segment", "time_bucket"], ["channel", "segment", "time_bucket"]]


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> dict:
    start = time.perf_counter()
    folder = tmp_path_factory.mktemp("company") / "co"
    write_company(folder, 100_000, seed=2)
    tables = read_tables(folder, ["orders", "products", "customers", "prices"])
    truth = read_truth(folder)
    cells = order_cells(tables, segments=truth["customers"][["customer_id", "segment"]])
    weight = cells.groupby(KEYS)["orders"].transform("mean")
    model = ElasticityDML(additive=ADDITIVE, interactions="pairwise", n_repeats=3, random_state=0)
    model.fit(
        cells[KEYS],
        cells["log_quantity"],
        treatment=cells["log_price_index"],
        controls=cells[["week"]],
        sample_weight=weight,
    )
    baseline = LogLogDemand().fit(
        cells[[*KEYS, "week"]].astype({"week": "str"}), cells["log_quantity"], price=np.exp(cells["log_price_index"])
    )
    table = truth["elasticities"].copy()
    table["estimate"] = model.effect(table)
    table["lower"], table["upper"] = model.effect_interval(table, alpha=0.1)
    table["baseline"] = baseline.effect(table)
    seconds = time.perf_counter() - start
    print(f"\nsimulated company: {len(cells)} cells, pipeline {seconds:.0f} s (generate, read, cells, fit)")
    return {"table": table, "seconds": seconds, "model": model, "folder": folder, "tables": tables}


def test_mean_absolute_error_of_the_cell_elasticities_is_at_most_0_15(result):
    t = result["table"]
    mae = float(np.mean(np.abs(t["estimate"] - t["elasticity"])))
    print(f"\nMAE {mae:.3f}, bias {np.mean(t['estimate'] - t['elasticity']):+.3f}\n" + t.round(2).to_string())
    assert mae <= 0.15


def test_90_percent_intervals_cover_80_to_97_percent_of_the_true_elasticities(result):
    t = result["table"]
    coverage = float(np.mean((t["lower"] <= t["elasticity"]) & (t["elasticity"] <= t["upper"])))
    print(f"\ncoverage of the 90 % intervals {coverage:.3f} (mean width {np.mean(t['upper'] - t['lower']):.3f})")
    assert 0.80 <= coverage <= 0.97


def test_beats_a_constant_elasticity_log_log_regression(result):
    t = result["table"]
    ours = np.mean(np.abs(t["estimate"] - t["elasticity"]))
    base = np.mean(np.abs(t["baseline"] - t["elasticity"]))
    print(f"\nMAE: DML {ours:.3f} vs constant-elasticity log-log {base:.3f}")
    assert ours < 0.5 * base


def test_segment_averages_rank_like_the_truth(result):
    t = result["table"]
    means = t.groupby("segment")[["elasticity", "estimate"]].mean()
    assert list(means["estimate"].sort_values().index) == list(means["elasticity"].sort_values().index)
    assert pd.Series(result["model"].summary()["p_value"]).notna().all()


def test_the_price_family_with_its_shipped_settings_meets_both_targets(result):
    """What ``cxml train price`` refits (``PriceDML``, pipelines/price.yaml, the refit's repeated cross-fitting) on
    every cell-week of the same company, scored on the 48 true cell elasticities."""
    from cxml.config import load_pipeline
    from cxml.datasets.price import FAMILY
    from cxml.models.price import SPEC

    data = FAMILY.contract_dataset(result["tables"], None, load_pipeline("price"), str(result["folder"]))
    X, y = pd.concat([data.X_train, data.X_holdout]), pd.concat([data.y_train, data.y_holdout])
    model = SPEC.build({**SPEC.refit_params}).fit(X, y)
    truth = result["table"][[*KEYS, "elasticity"]]
    got = model.elasticity(truth[KEYS])
    mae = float(np.mean(np.abs(got["elasticity"] - truth["elasticity"])))
    inside = (got["elasticity_lower"] <= truth["elasticity"]) & (truth["elasticity"] <= got["elasticity_upper"])
    print(f"\nprice family, shipped settings: MAE {mae:.3f}, coverage {inside.mean():.3f}, "
          f"interactions {model.interactions_}")  # fmt: skip
    assert mae <= 0.15 and 0.80 <= inside.mean() <= 0.97
