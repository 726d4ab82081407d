"""Example bodies of the service's responses, shown in its OpenAPI document (``/docs``) and checked in the tests
to be valid instances of their models (``tests/unit/test_schemas.py``), so the documentation cannot drift."""

from __future__ import annotations

from typing import Any

_REASON = {
    "feature": "recency_days",
    "value": 94,
    "contribution": 0.21,
    "text": "no purchase in 94 days raises risk by 0.21",
}
_CHURN = {
    "customer_id": "C000123",
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
    "item": "P0042",
    "name": "P0042 (electronics)",
    "probability": 0.31,
    "reasons": ["bought P0017 twice; customers who own it often buy P0042"],
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
        "customer_id": "C000123",
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
        "customer_id": "C000123",
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
        "customer_id": "C000123",
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
        "customer_id": "C000123",
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
        "customer_id": "C000123",
        "items": [_ITEM],
        "model_name": "cxml.cross_sell",
        "model_version": "1",
        "snapshot_as_of": "2026-01-01",
    },
    "CrossSellPairResponse": {
        "customer_id": "C000123",
        "item": "P0042",
        "probability": 0.31,
        "owned": False,
        "reasons": [
            {
                "feature": "copurchase_max",
                "value": 0.42,
                "contribution": 0.08,
                "text": "customers who own P0017 often buy P0042 raises the probability by 0.08",
            }
        ],
        "model_name": "cxml.cross_sell",
        "model_version": "1",
        "snapshot_as_of": "2026-01-01",
    },
    "PriceResponse": {
        "segment": "bargain_hunter",
        "customer_id": "C000123",
        "product_id": "P0042",
        "channel": "web",
        "time_bucket": "evening",
        "elasticity": -2.4,
        "elasticity_interval": [-2.7, -2.1],
        "interval_level": 0.9,
        "current_price": 24.9,
        "recommended_price": 23.7,
        "price_change": -0.048,
        "floor_price": 15.8,
        "unit_cost": 15.0,
        "weekly_volume": 310.0,
        "expected_volume": 348.0,
        "volume_change": 38.0,
        "volume_change_lower": 33.0,
        "volume_change_upper": 43.0,
        "revenue_change": 528.0,
        "revenue_change_lower": 410.0,
        "revenue_change_upper": 646.0,
        "margin_change": 86.0,
        "margin_change_lower": 41.0,
        "margin_change_upper": 131.0,
        "constraint": "none",
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
