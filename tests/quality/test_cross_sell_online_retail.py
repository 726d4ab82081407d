"""Cross-sell on the Online Retail sample: MAP@10 and Success@10 beat popularity and co-purchase.

Data (MANIFEST §8): 2010-12-01 .. 2011-01-09. ``as_of`` 2010-12-27: the look-back is everything before (the shop
closed after 2010-12-23), the horizon the last two weeks (trading 2011-01-04 .. 2011-01-09). Returns and
cancellations are netted out; rows without a customer dropped.

Level: product StockCodes (codes starting with a digit: postage, fees and manual lines are left out) with at least
20 distinct buyers in the look-back (~300 of ~2,400 codes). Every StockCode is too sparse: most have a handful of
buyers among ~900 active customers, so neither a co-purchase matrix nor a propensity can be learnt for them.

Two protocols, both scored on the same customers as the baselines (which use the look-back only):

* out of fold: the active customers are cut into 3 seeded folds; each fold is scored by a model trained on the
  other two at the same ``as_of`` (it never saw those customers' labels, but it did see other customers' January);
* earlier windows: a model trained on the pairs at 2010-12-09 and 2010-12-13 (horizons ending by 2010-12-27,
  so no label at or after ``as_of`` is used) scores every customer.

Models: ``PerItemPropensity`` with 3 cross-fitted bags, and its pooled ``SharedPropensity`` (``fallback_``, the
same parameters). Out of fold no item reaches 30 training positives, so the two kinds coincide; on the earlier
windows 4 items get their own model, which ranks worse than the shared one (MAP@10 0.072 vs 0.087): the shared
model is the one to keep, and the one the thresholds hold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxml.evaluation.ranking import ranking_metrics
from cxml.features.affinity import build_cross_sell
from cxml.features.transactions import normalise_transactions
from cxml.models.recommenders import CoPurchaseRecommender, PerItemPropensity, PopularityRecommender
from tests.conftest import shared_data

pytestmark = pytest.mark.quality
AS_OF = "2010-12-27"
FOLDS = 3
K = 10


@pytest.fixture(scope="module")
def retail():
    raw = pd.read_csv(
        shared_data("online_retail_sample", "online_retail_first_49999_rows.csv"),
        dtype={"InvoiceNo": "str", "StockCode": "str"},
    )
    products = raw[raw["StockCode"].str.match(r"\d")]
    return normalise_transactions(
        products,
        customer="CustomerID",
        item="StockCode",
        time="InvoiceDate",
        quantity="Quantity",
        invoice="InvoiceNo",
        price="UnitPrice",
    )


@pytest.fixture(scope="module")
def data(retail):
    return build_cross_sell(retail[0], AS_OF, lookback_days=30, horizon_days=14, min_item_buyers=20)


@pytest.fixture(scope="module")
def scores(retail, data):
    customers = data.customers.to_numpy()
    fold = pd.Series(np.random.default_rng(0).permutation(len(customers)) % FOLDS, index=customers)
    per_item, shared, label_popularity, n_own = [], [], [], 0
    for k in range(FOLDS):
        train, test = data.subset(fold.index[fold != k]), data.subset(fold.index[fold == k])
        model = PerItemPropensity(n_bags=3, random_state=k).fit(train.pairs, train.labels)
        per_item.append(model.score_matrix(test.pairs))
        shared.append(model.fallback_.score_matrix(test.pairs))
        label_popularity.append(PopularityRecommender("labels").fit(train.pairs, train.labels).score_matrix(test.pairs))
        n_own += len(model.models_)
    earlier = [
        build_cross_sell(retail[0], as_of, lookback_days=30, horizon_days=14, items=data.items)
        for as_of in ("2010-12-09", "2010-12-13")
    ]
    temporal = PerItemPropensity(n_bags=3).fit(
        pd.concat([e.pairs for e in earlier]), pd.concat([e.labels for e in earlier])
    )
    out = {
        "popularity": PopularityRecommender().fit(data.pairs).score_matrix(data.pairs),
        "co-purchase": CoPurchaseRecommender().fit(data.pairs).score_matrix(data.pairs),
        "horizon popularity (reference)": pd.concat(label_popularity),
        "per-item GBM, out of fold": pd.concat(per_item),
        "shared GBM, out of fold": pd.concat(shared),
        "per-item GBM, earlier windows": temporal.score_matrix(data.pairs),
        "shared GBM, earlier windows": temporal.fallback_.score_matrix(data.pairs),
    }
    metrics = {name: ranking_metrics(s, data.relevance, data.owned, k=K) for name, s in out.items()}
    table = pd.DataFrame(metrics).T
    n_own += len(temporal.models_)
    print(f"\n{len(data.items)} items, {len(customers)} active customers; per-item models: {n_own}")
    print(table.round(4).to_string())
    return table


def test_cleaning_counts(retail):
    _, notes = retail
    assert notes.dropped_no_customer > 10_000
    assert notes.returns > 500 and 0 < notes.returns_matched <= notes.returns


@pytest.mark.parametrize("model", ["shared GBM, out of fold", "shared GBM, earlier windows"])
def test_map_and_success_at_10_beat_both_baselines(scores, model):
    for baseline in ("popularity", "co-purchase"):
        assert scores.loc[model, "map_at_10"] > scores.loc[baseline, "map_at_10"], scores
        assert scores.loc[model, "success_at_10"] > scores.loc[baseline, "success_at_10"], scores
    assert scores.loc[model, "n_customers"] >= 80


def test_the_model_also_beats_the_horizon_popularity_of_the_training_customers(scores):
    """The out-of-fold models see other customers' horizon; that popularity alone does not explain their lead."""
    reference = scores.loc["horizon popularity (reference)", "map_at_10"]
    assert scores.loc["shared GBM, out of fold", "map_at_10"] > reference
