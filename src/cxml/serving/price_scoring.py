"""What the price endpoint does, without HTTP: the elasticity with its interval and the recommended price of one
(segment or customer, product, channel, time bucket), from the price champion and its recommendation table.

The table is :func:`price_serving_table` at the snapshot date (one row per segment × product × channel × time
bucket); a customer is mapped to their segment with a ``customer_id``/``segment`` table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cxml.decision.price_plan import current_cells, guardrails_of, price_recommendations
from cxml.models.price_frame import PriceOptions
from cxml.serving.schemas import ErrorDetail
from cxml.serving.scoring import RequestError

KEYS = ("segment", "product_id", "channel", "time_bucket")
VALUE_COLUMNS = (
    "current_price",
    "recommended_price",
    "price_change",
    "floor_price",
    "unit_cost",
    "weekly_volume",
    "expected_volume",
    *(f"{m}_change{end}" for m in ("volume", "revenue", "margin") for end in ("", "_lower", "_upper")),
)


def price_serving_table(
    tables: Mapping[str, pd.DataFrame],
    as_of: str | pd.Timestamp,
    estimator: Any,
    *,
    segments: pd.DataFrame | None = None,
    options: PriceOptions | None = None,
) -> pd.DataFrame:
    """Recommended prices of every cell seen in the look-back before ``as_of``, with elasticities and effects.

    ``segments`` (``customer_id``, ``segment``) defaults to ``tables["segments"]``; it is needed when the model's
    elasticity depends on the segment. ``options`` are ``pipelines/price.yaml``'s (look-back, guardrails).
    """
    opts = options or PriceOptions()
    segments = segments if segments is not None else tables.get("segments")
    if "segment" in estimator.effect_names and segments is None:
        raise ValueError("the price model's elasticity depends on the segment: pass segments (customer_id, segment)")
    keys = [k for k in KEYS if k != "segment" or segments is not None]
    cells = current_cells(tables, as_of, segments=segments, keys=keys, lookback_weeks=opts.lookback_weeks)
    return price_recommendations(estimator, cells, guardrails_of(opts))


def _unknown(field: str, value: str, known: list[str]) -> RequestError:
    listed = ", ".join(known[:10]) + (f" and {len(known) - 10} more" if len(known) > 10 else "")
    return RequestError(
        404,
        f"{field} {value!r} is not in the price recommendations",
        [ErrorDetail(type=f"unknown_{field}", loc=[field], msg=f"known: {listed}")],
    )


@dataclass
class PriceScorer:
    """The served price estimator (``PriceDML``), its recommendation table and the customer → segment map."""

    estimator: Any
    recommendations: pd.DataFrame
    """:func:`price_serving_table` output: one row per segment × product × channel × time bucket."""
    segments: pd.DataFrame | None = None
    """``customer_id``, ``segment``: how a customer is mapped to a segment (None: requests name the segment)."""

    def __post_init__(self) -> None:
        keys = [k for k in KEYS if k in self.recommendations.columns]
        table = self.recommendations.astype({k: "str" for k in keys})
        self._keys = keys
        self._table = table.set_index(keys).sort_index()
        self._known = {k: sorted(table[k].unique().tolist()) for k in keys}
        self._segment_of: pd.Series | None = None
        if self.segments is not None:
            seg = self.segments.astype({"customer_id": "str", "segment": "str"})
            self._segment_of = seg.drop_duplicates("customer_id").set_index("customer_id")["segment"]

    def segment_of(self, customer_id: str) -> str:
        if self._segment_of is None:
            raise RequestError(
                422,
                "customers cannot be mapped to a segment here",
                [ErrorDetail(type="no_segment_map", loc=["customer_id"], msg="send the segment instead")],
            )
        if customer_id not in self._segment_of.index:
            raise RequestError(
                404,
                f"customer {customer_id!r} has no segment",
                [ErrorDetail(type="unknown_customer", loc=["customer_id"], msg="not in the segment table")],
            )
        return str(self._segment_of[customer_id])

    def quote(
        self,
        *,
        product_id: str,
        channel: str,
        time_bucket: str,
        segment: str | None = None,
        customer_id: str | None = None,
    ) -> dict[str, Any]:
        """Elasticity (with its interval) and recommended price, expected effects and the binding guardrail.

        Give exactly one of ``segment`` and ``customer_id``.
        """
        if (segment is None) == (customer_id is None):
            raise RequestError(
                422,
                "give exactly one of segment and customer_id",
                [ErrorDetail(type="one_of", loc=["segment"], msg="segment or customer_id, not both or neither")],
            )
        if customer_id is not None:
            segment = self.segment_of(customer_id)
        asked = {"segment": segment, "product_id": product_id, "channel": channel, "time_bucket": time_bucket}
        for key in self._keys:
            if str(asked[key]) not in self._known[key]:
                raise _unknown(key, str(asked[key]), self._known[key])
        where = tuple(str(asked[k]) for k in self._keys)
        if where not in self._table.index:
            raise RequestError(
                404,
                f"no recommendation for {dict(zip(self._keys, where, strict=True))}: no sales in the look-back",
                [ErrorDetail(type="unknown_cell", loc=["product_id"], msg="this cell had no orders recently")],
            )
        row = self._table.loc[where]
        row = row.iloc[0] if isinstance(row, pd.DataFrame) else row
        e, lo, hi = (float(row[c]) for c in ("elasticity", "elasticity_lower", "elasticity_upper"))
        out: dict[str, Any] = {
            **{k: str(asked[k]) for k in KEYS},
            "customer_id": customer_id,
            "elasticity": e,
            "elasticity_interval": [lo, hi],
            "interval_level": 1 - float(getattr(self.estimator, "alpha", 0.1)),
            **{c: float(row[c]) for c in VALUE_COLUMNS if c in row.index},
            "constraint": str(row["constraint"]),
            "fairness_met": bool(row["fairness_met"]),
        }
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in out.items()}

    def elasticity(
        self, *, channel: str, time_bucket: str, segment: str | None = None, customer_id: str | None = None
    ) -> dict[str, Any]:
        """The elasticity and its interval of a segment (or customer) × channel × time bucket, from the model."""
        if (segment is None) == (customer_id is None):
            raise RequestError(
                422,
                "give exactly one of segment and customer_id",
                [ErrorDetail(type="one_of", loc=["segment"], msg="segment or customer_id, not both or neither")],
            )
        if customer_id is not None:
            segment = self.segment_of(customer_id)
        asked = {"segment": segment, "channel": channel, "time_bucket": time_bucket}
        for key, value in asked.items():
            if key in self._known and str(value) not in self._known[key]:
                raise _unknown(key, str(value), self._known[key])
        missing = [k for k in self.estimator.effect_names if k not in asked]
        if missing:
            raise RequestError(
                422,
                f"this price model's elasticity also depends on {missing}",
                [ErrorDetail(type="unsupported_model", loc=[missing[0]], msg="served for segment × channel × time")],
            )
        row = pd.DataFrame({k: [str(asked[k])] for k in self.estimator.effect_names})
        e = self.estimator.elasticity(row).iloc[0]
        return {
            **{k: str(v) for k, v in asked.items()},
            "customer_id": customer_id,
            "elasticity": float(e["elasticity"]),
            "elasticity_interval": [float(e["elasticity_lower"]), float(e["elasticity_upper"])],
            "interval_level": 1 - float(getattr(self.estimator, "alpha", 0.1)),
        }
