"""Survival and lifetime value on a simulated company, against the generator's ground truth.

The truth knows each customer's mean weekly churn hazard and purchase rate; the models only see the contract
tables before ``as_of`` (the shipped pipelines' dates). Figures are printed (run with ``-s``).
"""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from cxml.config import load_pipeline
from cxml.data.synthetic import generate_company
from cxml.datasets import get_family
from cxml.evaluation.survival_metrics import concordance_index
from cxml.models.clv import LifetimeValueModel
from cxml.models.survival import TenureBooster

pytestmark = pytest.mark.quality


@pytest.fixture(scope="module")
def company():
    co = generate_company(n_customers=6000, seed=5)
    return co.tables, co.truth["customers"].set_index("customer_id")


def _dataset(family, tables):
    cfg = load_pipeline(family)
    return get_family(family).contract_dataset(tables, cfg.as_of, cfg, "generated")


def _rank_corr(a, b) -> float:
    return float(spearmanr(a, b, nan_policy="omit")[0])


def test_survival_risk_follows_the_true_hazard_better_than_recency(company):
    tables, truth = company
    data = _dataset("survival", tables)
    risk = TenureBooster().fit(data.X_train, data.y_train).predict_frame(data.X_holdout)["risk"].to_numpy()
    recency = data.X_holdout["recency_days"].to_numpy()
    hazard = truth["weekly_churn_hazard_mean"].reindex(data.X_holdout.index).to_numpy()
    d, e = data.y_holdout["duration"].to_numpy(), data.y_holdout["event"].to_numpy()
    table = pd.DataFrame(
        {
            "rank corr. with the true hazard": [_rank_corr(risk, hazard), _rank_corr(recency, hazard), 1.0],
            "holdout C-index": [concordance_index(d, e, s) for s in (risk, recency, hazard)],
        },
        index=["cxml TenureBooster (Cox)", "recency rule", "true mean hazard"],
    )
    print(f"\n{len(d)} holdout customers, {int(e.sum())} lapses\n" + table.round(3).to_string())
    ours, rule = table.iloc[0], table.iloc[1]
    assert ours.iloc[0] >= 0.2 and ours.iloc[0] > rule.iloc[0] + 0.05
    assert ours.iloc[1] > rule.iloc[1]


def test_clv_expected_purchases_follow_the_true_purchase_rate(company):
    tables, truth = company
    data = _dataset("clv", tables)
    rate = truth["purchase_rate"].reindex(data.X_holdout.index).to_numpy()
    actual = data.y_holdout["value"].to_numpy()
    rows = {}
    for kind in ("pareto_nbd", "bg_nbd", "gbm"):
        scores = LifetimeValueModel(kind=kind).fit(data.X_train, data.y_train).predict_frame(data.X_holdout)
        rows[kind] = {
            "rank corr. purchases vs true rate": _rank_corr(scores["expected_purchases"], rate),
            "rank corr. value vs holdout value": _rank_corr(scores["expected_value"], actual),
            "holdout value RMSE": float(np.sqrt(np.mean((scores["expected_value"].to_numpy() - actual) ** 2))),
        }
    table = pd.DataFrame(rows).T
    print(f"\n{len(actual)} holdout customers\n" + table.round(3).to_string())
    assert (table["rank corr. purchases vs true rate"] >= 0.6).all()
    assert (table["rank corr. value vs holdout value"] >= 0.6).all()
