"""Per-customer reasons: the largest tree-SHAP contributions turned into sentences.

"no purchase in 94 days raises risk by 0.21" — the value is described by the feature registry, the effect is the
contribution on the explanation's own scale (the probability for churn reasons). One function serves the CLI, the
reports and the endpoints; it reads one customer's ``shap.Explanation`` (``explanation[i]``), so anything a model's
``explain`` returns can be put in words.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from cxml.features.registry import FEATURES, describe

if TYPE_CHECKING:
    import shap


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
    explanation: shap.Explanation,
    *,
    k: int = 3,
    target: str = "risk",
    min_abs: float = 1e-4,
) -> list[Reason]:
    """The ``k`` largest contributions of one customer (a one-row ``explanation``), in words, biggest first.

    Values come from ``display_data`` (the customer's raw values) when present, else from ``data``.
    """
    phi = np.asarray(explanation.values, dtype=np.float64)
    if phi.ndim != 1:
        raise ValueError(f"top_reasons explains one customer: pass explanation[i], not values of shape {phi.shape}")
    names = [str(f) for f in explanation.feature_names]
    raw = explanation.display_data if explanation.display_data is not None else explanation.data
    values = list(raw) if raw is not None else [None] * len(names)
    return _in_words(phi, names, values, k, target, min_abs)


def reasons_per_row(
    explanation: shap.Explanation, *, k: int = 3, target: str = "risk", min_abs: float = 1e-4
) -> list[list[Reason]]:
    """``top_reasons`` of every row of a many-row explanation, read from its arrays: indexing a
    ``shap.Explanation`` row by row costs ~25 ms a row, which batch scoring cannot pay."""
    phi = np.asarray(explanation.values, dtype=np.float64)
    if phi.ndim != 2:
        raise ValueError(f"reasons_per_row needs one row per customer, got values of shape {phi.shape}")
    names = [str(f) for f in explanation.feature_names]
    raw = explanation.display_data if explanation.display_data is not None else explanation.data
    table = np.asarray(raw, dtype=object) if raw is not None else np.full(phi.shape, None, dtype=object)
    return [_in_words(phi[i], names, list(table[i]), k, target, min_abs) for i in range(phi.shape[0])]


def _in_words(phi: np.ndarray, names: list[str], values: list, k: int, target: str, min_abs: float) -> list[Reason]:
    out = []
    for j in np.argsort(-np.abs(phi), kind="stable")[:k]:
        c = float(phi[j])
        if abs(c) < min_abs:
            break
        value = values[j].item() if isinstance(values[j], np.generic) else values[j]
        out.append(reason(names[j], value, c, target))
    return out


def reason(feature: str, value: float | str | None, contribution: float, target: str = "risk") -> Reason:
    """One contribution in words: the sentence every reason carries, so reasons computed ahead (serving's
    precomputed snapshot) read exactly like those computed on demand."""
    verb = "raises" if contribution > 0 else "lowers"
    text = f"{describe_value(feature, value)} {verb} {target} by {abs(contribution):.2f}"
    return Reason(feature, value, contribution, text)
