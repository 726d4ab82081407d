"""Tree SHAP values as ``shap.Explanation``: the object data scientists already hand to ``shap.plots``.

The values come from the boosters' native contributions (XGBoost ``pred_contribs``, LightGBM ``pred_contrib``):
exact TreeSHAP, as fast as ``shap.TreeExplainer`` or faster (bench/explain.py). Every explanation states its
output scale in ``output_names`` (a string, kept by slicing), so ``values.sum(axis=1) + base_values`` can be read
against the right number:

- ``data`` holds what the trees saw (float; categoricals as the encoder's integer codes), which is what
  ``shap.plots.beeswarm`` colours by; ``display_data`` holds the customer's raw values (strings, categories), which
  ``shap.plots.waterfall`` prints and the reasons describe.
- ``instance_names`` are the rows' index labels (customer ids), as strings.

``shap`` is imported on first use, not with the models: it pulls in numba and takes 2–4 s, which every CLI
command and the service's start would otherwise pay without explaining anything.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import shap

LOG_ODDS = "log-odds"
"""A classifier's raw margin: exact TreeSHAP (rows add up to the boosters' mean margin)."""
PROBABILITY = "probability"
"""Per-row rescaled log-odds SHAP: same shares per feature, rows add up to the calibrated probability."""


def tree_explanation(
    phi: np.ndarray,
    base: float | np.ndarray,
    frame: pd.DataFrame,
    matrix: np.ndarray,
    *,
    names: Sequence[str],
    scale: str,
) -> shap.Explanation:
    """Wrap per-row contributions ``phi`` (n, p), in the order of ``names``, and their base value(s) with the rows
    of ``frame`` they explain (``matrix`` is ``frame`` as the trees saw it)."""
    n = len(frame)
    names = [str(c) for c in names]
    base_values = np.broadcast_to(np.asarray(base, dtype=np.float64), (n,)).copy()
    return _shap().Explanation(
        np.asarray(phi, dtype=np.float64),
        base_values=base_values,
        data=np.asarray(matrix, dtype=np.float64),
        display_data=_raw_values(frame, names),
        feature_names=names,
        instance_names=[str(i) for i in frame.index],
        output_names=scale,
    )


def _raw_values(frame: pd.DataFrame, names: list[str]) -> np.ndarray:
    """The rows' own values in the order of ``names`` (NaN for a derived feature the frame does not hold)."""
    columns = [str(c) for c in frame.columns]
    if columns == names:  # the usual case: skip pandas' column selection (~0.3 ms a call on one row)
        return frame.to_numpy(dtype=object)
    frame = frame.set_axis(columns, axis=1)
    if all(c in frame.columns for c in names):
        return frame[names].to_numpy(dtype=object)
    return frame.reindex(columns=names).to_numpy(dtype=object)


def model_output(explanation: shap.Explanation) -> np.ndarray:
    """What the explanation adds up to, per row: ``values.sum(axis=1) + base_values`` (on its stated scale)."""
    values = np.asarray(explanation.values, dtype=np.float64)
    return np.asarray(values.sum(axis=-1) + explanation.base_values, dtype=np.float64)


def scale_of(explanation: shap.Explanation) -> str:
    """The output scale an explanation was built on (``output_names``)."""
    return str(explanation.output_names)


def rescale_rows(
    phi: np.ndarray, base: np.ndarray, transform: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Margin contributions moved to ``transform``'s scale row by row: each row keeps its features' shares and
    adds up to ``transform(margin)`` from the base ``transform(base)``. Additive by construction; an approximation
    of SHAP on the new scale (exact SHAP of a non-linear output would need the interventional algorithm)."""
    base = np.asarray(base, dtype=np.float64)
    total = phi.sum(axis=1) + base
    out, out_base = np.asarray(transform(total), dtype=np.float64), np.asarray(transform(base), dtype=np.float64)
    delta = total - base
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(np.abs(delta) > 1e-12, (out - out_base) / delta, 0.0)
    return phi * ratio[:, None], out_base


def rescaled(
    margin: shap.Explanation, transform: Callable[[np.ndarray], np.ndarray], *, scale: str
) -> shap.Explanation:
    """``margin`` moved to ``transform``'s scale by :func:`rescale_rows`, everything else kept."""
    values, base = rescale_rows(np.asarray(margin.values, dtype=np.float64), margin.base_values, transform)
    return _shap().Explanation(
        values,
        base_values=base,
        data=margin.data,
        display_data=margin.display_data,
        feature_names=margin.feature_names,
        instance_names=margin.instance_names,
        output_names=scale,
    )


def load_shap() -> None:
    """Import shap now (a service calls this at start, so its first request for reasons does not pay 2–4 s)."""
    _shap()


def _shap() -> Any:
    return importlib.import_module("shap")
