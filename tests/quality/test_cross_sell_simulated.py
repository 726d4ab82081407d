"""Cross-sell on the simulated company: Success@5 at least 1.5× popularity, and the true affinities recovered.

Company: ``generate_company(5000, seed=7)`` (the tables ``cxml generate --customers 5000 --seed 7`` writes).
Training pairs at as_of 2025-08-02 (look-back 180 days, horizon 60), evaluation pairs at 2025-10-01 (same
windows), so the training horizon ends where the evaluation begins.

Level: product (64 items). At the category level (8 items) a customer owns about 3 categories, so the top 5
holds nearly every candidate and any ranking, popularity included, has Success@5 ≈ 0.96: 1.5× cannot exist.
Affinity recovery is measured at the category level from the product probabilities: a category's score is
P(buys at least one of its non-owned products) = 1 − Π(1 − p), and we count the customers whose true top
category (``truth/affinities`` rank 1) is among their three best categories.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxml.data.synthetic import generate_company
from cxml.evaluation.ranking import ranking_metrics
from cxml.features.affinity import cross_sell_from_tables
from cxml.models.recommenders import CoPurchaseRecommender, PerItemPropensity, PopularityRecommender

pytestmark = pytest.mark.quality
AS_OF = pd.Timestamp("2025-10-01")
WINDOWS = {"level": "product", "lookback_days": 180, "horizon_days": 60}


def _recovery(scores: pd.DataFrame, owned: pd.DataFrame, category: pd.Series, top1: pd.Series) -> float:
    p = scores.where(~owned, 0.0).clip(0, 1)
    by_category = 1 - (1 - p).T.groupby(category.reindex(p.columns).to_numpy()).prod().T
    best3 = by_category.columns.to_numpy()[np.argsort(-by_category.to_numpy(), axis=1, kind="stable")[:, :3]]
    return float((best3 == top1.reindex(by_category.index).to_numpy()[:, None]).any(axis=1).mean())


@pytest.fixture(scope="module")
def results():
    company = generate_company(5000, seed=7)
    train = cross_sell_from_tables(company.tables, AS_OF - pd.Timedelta(days=60), **WINDOWS)
    test = cross_sell_from_tables(company.tables, AS_OF, **WINDOWS)
    per_item = PerItemPropensity().fit(train.pairs, train.labels)
    models = {
        "popularity": PopularityRecommender().fit(test.pairs),
        "co-purchase": CoPurchaseRecommender().fit(test.pairs),
        "per-item GBM": per_item,
        "shared GBM": per_item.fallback_,
    }
    category = company.tables["products"].set_index("product_id")["category"]
    affinities = company.truth["affinities"]
    top1 = affinities[affinities["rank"] == 1].set_index("customer_id")["category"]
    rows = {}
    for name, model in models.items():
        scores = model.score_matrix(test.pairs)
        rows[name] = ranking_metrics(scores, test.relevance, test.owned, k=(5, 10))
        rescaled = scores / scores.max().max() if name in ("popularity", "co-purchase") else scores
        rows[name]["top_category_in_top3"] = _recovery(rescaled, test.owned, category, top1)
    table = pd.DataFrame(rows).T
    print(f"\nper-item models: {len(per_item.models_)} of {len(test.items)} items\n{table.round(4).to_string()}")
    return table


def test_success_at_5_is_at_least_one_and_a_half_times_popularity(results):
    popularity = results.loc["popularity", "success_at_5"]
    assert results.loc["shared GBM", "success_at_5"] >= 1.5 * popularity, results
    assert results.loc["per-item GBM", "success_at_5"] >= 1.5 * popularity, results


def test_the_true_top_category_is_recovered(results):
    assert results.loc["shared GBM", "top_category_in_top3"] >= 0.7, results
    assert results.loc["shared GBM", "top_category_in_top3"] > results.loc["popularity", "top_category_in_top3"] + 0.3


def test_the_shared_model_ranks_as_well_as_co_purchase(results):
    """In this world co-purchase is close to the best ranking there is; the model must not fall behind it."""
    assert results.loc["shared GBM", "map_at_5"] >= results.loc["co-purchase", "map_at_5"] - 0.01, results
