"""Per-customer reasons: the largest tree-SHAP contributions turned into sentences.

"no purchase in 94 days raises risk by 0.21" — the value is described by the feature registry, the effect is the
contribution on the probability scale. One function serves the CLI, the reports and the endpoints.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from cxml.features.registry import FEATURES, describe


@dataclass(frozen=True)
class Reason:
    feature: str
    value: float | str | None
    contribution: float
    text: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def describe_value(feature: str, value: object) -> str:
    """The feature registry's words for a value, or ``feature = value`` for columns it does not know."""

    if feature in FEATURES:
        try:
            return describe(feature, float(value))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            pass
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return f"{feature} missing"
    if isinstance(value, float):
        return f"{feature} = {value:.4g}"
    return f"{feature} = {value}"


def top_reasons(
    contributions: pd.Series,
    values: pd.Series,
    *,
    k: int = 3,
    target: str = "risk",
    min_abs: float = 1e-4,
) -> list[Reason]:
    """The ``k`` largest contributions of one customer, in words, biggest effect first."""
    order = contributions.abs().sort_values(ascending=False, kind="stable").index
    out = []
    for feature in order[:k]:
        c = float(contributions[feature])
        if abs(c) < min_abs:
            break
        raw = values.get(feature)
        value = raw.item() if isinstance(raw, np.generic) else raw
        verb = "raises" if c > 0 else "lowers"
        out.append(
            Reason(
                str(feature),
                value,
                c,
                f"{describe_value(str(feature), value)} {verb} {target} by {abs(c):.2f}",
            )
        )
    return out
