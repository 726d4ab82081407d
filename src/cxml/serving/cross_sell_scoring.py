"""What the cross-sell endpoints do, without HTTP: a customer's top-K items with probability and reasons, and
P(customer buys item) for one pair, from the champion and a snapshot of pair rows: ``build_cross_sell(tx, as_of,
lookback_days=..., items=estimator.items_).pairs.reset_index()`` at the snapshot date (no horizon, no labels)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cxml.models.cross_sell import CrossSellPropensity
from cxml.serving.schemas import ErrorDetail
from cxml.serving.scoring import RequestError

MAX_K = 50


@dataclass
class CrossSellScorer:
    """The served cross-sell estimator over one snapshot of (customer, item) rows."""

    estimator: CrossSellPropensity
    pairs: pd.DataFrame
    """Flat pair rows: ``customer_id``, ``item``, ``owned`` and the model's features."""
    item_names: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        customers = self.pairs["customer_id"].astype("str").to_numpy()
        order = np.argsort(customers, kind="stable")
        self._customers, self._order = customers[order], order

    def _rows(self, customer_id: str) -> pd.DataFrame:
        lo = int(np.searchsorted(self._customers, customer_id, side="left"))
        hi = int(np.searchsorted(self._customers, customer_id, side="right"))
        if hi == lo:
            raise RequestError(
                404,
                f"customer {customer_id!r} is not in the cross-sell snapshot",
                [ErrorDetail(type="unknown_customer", loc=["customer_id"], msg="no purchases in the look-back")],
            )
        return self.pairs.iloc[self._order[lo:hi]]

    def top_k(self, customer_id: str, k: int = 5, n_reasons: int = 3) -> dict[str, Any]:
        """The ``k`` most likely items the customer does not own, each with probability and reasons in words."""
        if not 1 <= k <= MAX_K:
            raise RequestError(
                422, "bad top_k", [ErrorDetail(type="out_of_range", loc=["top_k"], msg=f"between 1 and {MAX_K}")]
            )
        top = self.estimator.recommend(self._rows(customer_id), k, n_reasons=n_reasons, item_names=self.item_names)
        items = [
            {
                "rank": int(r["rank"]),
                "item": str(r["item"]),
                "name": self.item_names.get(str(r["item"]), str(r["item"])),
                "probability": float(r["probability"]),
                "reasons": list(r["reasons"]) if n_reasons else [],
            }
            for r in top.to_dict("records")
        ]
        return {"customer_id": customer_id, "items": items}

    def pair(self, customer_id: str, item: str, n_reasons: int = 3) -> dict[str, Any]:
        """P(the customer buys ``item`` in the horizon), whether they own it already, and the reasons."""
        rows = self._rows(customer_id)
        row = rows.loc[rows["item"].astype("str") == item]
        if row.empty:
            raise RequestError(
                404,
                f"item {item!r} is not one the model ranks",
                [ErrorDetail(type="unknown_item", loc=["item"], msg=f"{len(rows)} items are ranked")],
            )
        p = float(self.estimator.predict_proba(row)[0, 1])
        reasons = self.estimator.reasons(row, n_reasons, self.item_names)[0] if n_reasons else []
        return {
            "customer_id": customer_id,
            "item": item,
            "probability": p,
            "owned": bool(row["owned"].iloc[0]),
            "reasons": [r.as_dict() for r in reasons],
        }
