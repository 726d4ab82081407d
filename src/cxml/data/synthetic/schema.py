"""Column types of every generated table and building Arrow tables that match them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

_STR = "str"
_TS = "datetime64[us]"
_DTYPES: dict[str, dict[str, str]] = {
    "customers": {
        "customer_id": _STR,
        "signup_at": _TS,
        "region": _STR,
        "birth_year": "Int64",
        "gender": _STR,
        "consent_marketing": "bool",
        "consent_profiling": "bool",
        "preferred_channel": _STR,
    },
    "identities": {"identifier": _STR, "identifier_type": _STR, "customer_id": _STR},
    "products": {"product_id": _STR, "category": _STR, "list_price": "float64", "unit_cost": "float64"},
    "orders": {
        "order_id": _STR,
        "line_no": "int64",
        "customer_id": _STR,
        "ts": _TS,
        "product_id": _STR,
        "quantity": "int64",
        "unit_price": "float64",
        "discount": "float64",
        "channel": _STR,
        "campaign_id": _STR,
        "returned": "bool",
    },
    "events": {
        "identifier": _STR,
        "customer_id": _STR,
        "ts": _TS,
        "event_type": _STR,
        "device": _STR,
        "os": _STR,
        "browser": _STR,
        "referrer_type": _STR,
        "country": _STR,
    },
    "service_contacts": {
        "contact_id": _STR,
        "customer_id": _STR,
        "ts": _TS,
        "channel": _STR,
        "reason": _STR,
        "resolved": "bool",
        "survey_score": "float64",
        "sentiment": "float64",
    },
    "campaigns": {
        "campaign_id": _STR,
        "channel": _STR,
        "offer": _STR,
        "start_at": _TS,
        "end_at": _TS,
        "cost_per_contact": "float64",
        "incentive_cost": "float64",
    },
    "exposures": {"campaign_id": _STR, "customer_id": _STR, "arm": _STR, "sent_at": _TS},
    "prices": {"product_id": _STR, "channel": _STR, "valid_from": _TS, "price": "float64"},
    "truth/customers": {
        "customer_id": _STR,
        "segment": _STR,
        "persuadability": _STR,
        "alive_at_start": "bool",
        "alive_at_end": "bool",
        "churned_at": _TS,
        "churn_week": "Int64",
        "n_churns": "int64",
        "weekly_churn_hazard_end": "float64",
        "weekly_churn_hazard_mean": "float64",
        "purchase_rate": "float64",
        "lines_per_order": "float64",
        "elasticity": "float64",
        "price_sensitivity": "float64",
        "responsiveness": "float64",
        "preferred_channel": _STR,
        "referral_source": _STR,
        "consent_marketing": "bool",
        "consent_profiling": "bool",
    },
    "truth/effects": {
        "customer_id": _STR,
        "campaign_id": _STR,
        "arm": _STR,
        "assigned_arm": _STR,
        "p_purchase_control": "float64",
        "true_effect": "float64",
    },
    "truth/elasticities": {"segment": _STR, "channel": _STR, "time_bucket": _STR, "elasticity": "float64"},
    "truth/affinities": {"customer_id": _STR, "rank": "int64", "category": _STR, "affinity": "float64"},
    "truth/campaign_arms": {
        "campaign_id": _STR,
        "arm": _STR,
        "kind": _STR,
        "strength": "float64",
        "discount": "float64",
        "response_days": "int64",
    },
    "truth/price_index": {"channel": _STR, "week_start": _TS, "price_ratio": "float64"},
}
CONTRACT_TABLES = (
    "customers",
    "identities",
    "products",
    "orders",
    "events",
    "service_contacts",
    "campaigns",
    "exposures",
    "prices",
)
GLOBAL_TABLES = (
    "products",
    "campaigns",
    "prices",
    "truth/elasticities",
    "truth/campaign_arms",
    "truth/price_index",
)


def _schema(name: str) -> pa.Schema:
    template = pd.DataFrame({c: pd.Series([], dtype=d) for c, d in _DTYPES[name].items()})
    return pa.Schema.from_pandas(template, preserve_index=False)


def _ts_array(us: np.ndarray) -> np.ndarray:
    return np.asarray(us, dtype=np.int64).view("datetime64[us]")


def _str_take(values: Sequence[str] | np.ndarray, idx: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Strings ``values[idx]``, null where ``mask``; built by Arrow take (fast for millions of rows)."""
    dictionary = pa.array(list(values), pa.large_string())
    indices = pa.array(np.asarray(idx, dtype=np.int64), mask=mask)
    return dictionary.take(indices)


def _table(name: str, columns: dict[str, object]) -> pa.Table:
    schema = _schema(name)
    arrays = []
    for field in schema:
        col = columns[field.name]
        if isinstance(col, pa.Array | pa.ChunkedArray):
            arrays.append(col.cast(field.type))
        elif field.type == pa.timestamp("us"):
            arrays.append(pa.array(_ts_array(np.asarray(col)), pa.timestamp("us")))
        else:
            arrays.append(pa.array(col, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)
