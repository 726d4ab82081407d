"""Own-price elasticity of orange juice on Dominick's scanner panel, and the classic ``oj.csv`` log-log.

The set-up follows the published double-ML example on these data (EconML's orange-juice notebook): outcome
``logmove``, treatment the log own price, heterogeneity ``INCOME`` (log median household income of the store's
area), controls the other store demographics, the brand and feature advertising. Intervals are clustered by store
(121 weeks of one store are not independent). The reference reports a pooled elasticity of about −2.8 at low
income to −2.5 at high income, and own-price elasticities of about −2.8 to −4.2 by brand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxml.data.oj import STORE_DEMOGRAPHICS, read_dominicks_oj, read_oj_bds
from cxml.models.demand import LogLogDemand
from cxml.models.dml import ElasticityDML
from tests.conftest import shared_data

pytestmark = pytest.mark.quality
CONTROLS = [c for c in STORE_DEMOGRAPHICS if c != "INCOME"] + ["feat"]


@pytest.fixture(scope="module")
def oj() -> pd.DataFrame:
    return read_dominicks_oj(shared_data("dominicks_oj"))


@pytest.fixture(scope="module")
def by_income(oj) -> ElasticityDML:
    model = ElasticityDML(random_state=0)
    return model.fit(
        oj[["INCOME"]], oj["logmove"], treatment=oj["log_price"], controls=oj[[*CONTROLS, "brand"]], groups=oj["store"]
    )


def test_pooled_elasticity_lies_in_the_published_range(by_income, oj):
    pooled = by_income.group_effects(oj.assign(all="all"), "all").iloc[0]
    print(
        f"\npooled own-price elasticity {pooled['elasticity']:.3f} [{pooled['ci_lower']:.3f}, {pooled['ci_upper']:.3f}]"
    )
    assert -3.5 <= pooled["elasticity"] <= -2.0


def test_elasticity_decreases_in_magnitude_with_store_income(by_income, oj):
    slope = by_income.summary(alpha=0.1).loc["INCOME"]
    income = oj[["INCOME"]].quantile([0.1, 0.5, 0.9])
    at = by_income.effect(income)
    print(
        f"\nINCOME slope {slope['coef']:.3f} (store-clustered se {slope['se']:.3f}); "
        f"elasticity at income p10/p50/p90 {np.round(at, 2)} (reference −2.8 … −2.5)"
    )
    assert slope["ci_lower"] > 0  # higher income: less negative elasticity, with 90 % confidence
    assert at[0] < at[1] < at[2]


def test_every_brand_has_a_clearly_negative_own_price_elasticity(oj):
    model = ElasticityDML(random_state=0).fit(
        oj[["brand"]], oj["logmove"], treatment=oj["log_price"], controls=oj[[*CONTROLS, "INCOME"]], groups=oj["store"]
    )
    brands = model.group_effects(oj, "brand").set_index("brand")
    print("\nown-price elasticity by brand (reference about −2.8 to −4.2):\n" + brands.round(3).to_string())
    assert np.all(brands["ci_upper"] < -1.5)
    assert np.all(brands["elasticity"] > -4.5)
    assert brands.loc["dominicks", "elasticity"] < brands.loc["tropicana", "elasticity"]  # store brand most elastic


def test_classic_log_log_on_oj_csv():
    bds = read_oj_bds(shared_data("oj_bds", "oj.csv"))
    model = LogLogDemand().fit(bds[["brand"]], bds["log_sales"], price=bds["price"])
    print(
        f"\noj.csv log(sales) ~ log(price) + brand: elasticity {model.elasticity_:.3f} (se {model.elasticity_se_:.3f})"
    )
    assert model.elasticity_ == pytest.approx(-3.14, abs=0.02)  # Taddy, Business Data Science: −3.14
