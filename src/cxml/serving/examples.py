"""Example bodies of the service's requests and responses, shown in its OpenAPI document (``/docs``) and checked in
the tests to be valid instances of their models (``tests/unit/test_schemas.py``), so the documentation cannot drift.

Every id and value is one a simulated company has, so "Try it out" on the demo server answers 200
(``tests/integration/test_serving_families.py`` posts each request example): ``C0000001`` and ``C0000002`` are the
first customers of any company (``C`` + 7 digits from 1); products are ``P001`` .. ``P064`` (``P017`` is beauty,
``P025`` electronics); channels ``web``/``app``/``store``/``phone``; time buckets ``weekday_day``,
``weekday_evening``, ``weekend``; the price segments the simulated ``bargain_hunter``, ``loyal``, ``premium``,
``occasional``; campaign ``CMP05`` has the arm ``voucher_15``. The loyal × ``P025`` × web × weekday-evening cell
sells in every look-back we generated. The cross-sell examples need a customer who bought in the look-back:
``C0000001`` has in the demo's company (seed 0, 5,000 or 20,000 customers), not in every seed.
"""

from __future__ import annotations

from typing import Any

CUSTOMER, OTHER_CUSTOMER = "C0000001", "C0000002"
ITEM = "P025"
PRICE_CELL = {"segment": "loyal", "product_id": ITEM, "channel": "web", "time_bucket": "weekday_evening"}

_REASON = {
    "feature": "recency_days",
    "value": 94,
    "contribution": 0.21,
    "text": "no purchase in 94 days raises risk by 0.21",
}
_CHURN = {
    "customer_id": "C0000001",
    "probability": 0.71,
    "model_name": "cxml.churn",
    "model_version": "3",
    "snapshot_as_of": "2026-01-01",
    "reasons": [_REASON],
}
_ARM = {
    "arm": "voucher_15",
    "effect": 0.084,
    "decile": 1,
    "observed_effect": 0.071,
    "interval": [0.032, 0.11],
    "expected_profit": 0.86,
}
_ACTION = {
    "name": "campaign:voucher_15",
    "kind": "marketing",
    "expected_value": 0.86,
    "effect": 0.084,
    "cost": 9.2,
    "reason": "effect 0.084 × margin 120.00 − contact 1.20 − incentive 8.00 × P(redeem)",
}
_ITEM = {
    "rank": 1,
    "item": "P025",
    "name": "P025 (electronics)",
    "probability": 0.31,
    "reasons": ["bought P017 twice; customers who own it often buy P025"],
}
_MODEL = {
    "family": "churn",
    "bento_tag": "cxml-churn:v3-1a2b3c4d",
    "mlflow_model": "cxml.churn",
    "mlflow_version": "3",
    "mlflow_run_id": "5f0c3b8e2d4a4e6f9a1b2c3d4e5f6a7b",
    "features": ["recency_days", "orders_90d", "spend_365d"],
}
_SNAP = {"bento_tag": "cxml-snapshot:2026-01-01-15522cc0", "as_of": "2026-01-01", "n_customers": 20000}
_DETAIL = {
    "type": "unknown_feature",
    "loc": ["features", "recency_dayz"],
    "msg": "unknown feature 'recency_dayz'; the model uses: recency_days, orders_90d, spend_365d",
}
EXAMPLES: dict[str, dict[str, Any]] = {
    "Reason": _REASON,
    "ChurnResponse": _CHURN,
    "ArmEffect": _ARM,
    "UpliftResponse": {
        "customer_id": "C0000001",
        "campaign": "CMP05",
        "effects": [_ARM],
        "recommended_arm": "voucher_15",
        "explained_arm": "voucher_15",
        "persuadable": True,
        "model_name": "cxml.uplift",
        "model_version": "2",
        "snapshot_as_of": "2026-01-01",
        "reasons": [_REASON],
    },
    "ActionValue": _ACTION,
    "NextBestActionResponse": {
        "customer_id": "C0000001",
        "action": _ACTION,
        "runners_up": [
            {
                "name": "do_nothing",
                "kind": "none",
                "expected_value": 0.0,
                "effect": 0.0,
                "cost": 0.0,
                "reason": "no contact, no cost",
            }
        ],
        "blocked": {"retention_offer": "cooldown: declined an offer 12 days ago"},
        "holdout": False,
        "reasons": ["voucher_15 is worth 0.86 more than doing nothing"],
        "churn_probability": 0.71,
        "customer_value": 412.5,
        "models": {"cxml.churn": "3", "cxml.uplift": "2"},
        "snapshot_as_of": "2026-01-01",
    },
    "BatchChurnResponse": {"items": [_CHURN]},
    "ScoreResponse": {
        "customer_id": "C0000001",
        "family": "survival",
        "score": 0.42,
        "scores": {
            "risk": 0.42,
            "survival_3": 0.93,
            "survival_6": 0.85,
            "survival_12": 0.71,
            "expected_remaining_tenure": 9.8,
        },
        "summary": "P(still a customer) 93 % after 3 months, 71 % after 12",
        "reasons": [_REASON],
        "model_name": "cxml.survival",
        "model_version": "1",
        "snapshot_as_of": "2026-01-01",
    },
    "SegmentResponse": {
        "customer_id": "C0000001",
        "segment": 2,
        "segment_name": "web, frequent customers",
        "segment_traits": "74% of orders on the web (average 31%); 11 orders in the last 365 days",
        "value_engagement": "high value, engaged",
        "high_value": True,
        "engaged": True,
        "stage": "at risk",
        "stage_reason": "no purchase in 64 days, 2.1× their usual gap",
        "model_name": "cxml.segments",
        "model_version": "1",
        "snapshot_as_of": "2026-01-01",
    },
    "RecommendedItem": _ITEM,
    "CrossSellResponse": {
        "customer_id": "C0000001",
        "items": [_ITEM],
        "model_name": "cxml.cross_sell",
        "model_version": "1",
        "snapshot_as_of": "2026-01-01",
    },
    "CrossSellPairResponse": {
        "customer_id": "C0000001",
        "item": "P025",
        "probability": 0.31,
        "owned": False,
        "reasons": [
            {
                "feature": "copurchase_max",
                "value": 0.42,
                "contribution": 0.08,
                "text": "customers who own P017 often buy P025 raises the probability by 0.08",
            }
        ],
        "model_name": "cxml.cross_sell",
        "model_version": "1",
        "snapshot_as_of": "2026-01-01",
    },
    "PriceResponse": {
        "segment": "loyal",
        "customer_id": None,
        "product_id": "P025",
        "channel": "web",
        "time_bucket": "weekday_evening",
        "elasticity": -1.35,
        "elasticity_interval": [-1.6, -1.1],
        "interval_level": 0.9,
        "current_price": 124.9,
        "recommended_price": 137.39,
        "price_change": 0.1,
        "floor_price": 77.89,
        "unit_cost": 74.0,
        "weekly_volume": 3.1,
        "expected_volume": 2.73,
        "volume_change": -0.37,
        "volume_change_lower": -0.44,
        "volume_change_upper": -0.3,
        "revenue_change": -12.1,
        "revenue_change_lower": -21.7,
        "revenue_change_upper": -2.5,
        "margin_change": 15.3,
        "margin_change_lower": 10.9,
        "margin_change_upper": 19.7,
        "constraint": "max_increase",
        "fairness_met": True,
        "model_name": "cxml.price",
        "model_version": "1",
        "snapshot_as_of": "2026-01-01",
    },
    "ServedModel": _MODEL,
    "ServedSnapshot": _SNAP,
    "ServiceInfo": {"service": "cxml", "ready": True, "models": [_MODEL], "snapshot": _SNAP},
    "ErrorDetail": _DETAIL,
    "ErrorResponse": {"error": "1 invalid feature value(s)", "detail": [_DETAIL]},
}
