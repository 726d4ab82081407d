"""The model cards' SHAP figures drawn by ``shap.plots`` itself, as PNG ``data:`` URIs.

A reader who knows SHAP recognises the beeswarm and the bar chart at once, and can redraw them from
``model.explain(X)`` with the same calls. Each figure gets its own Agg canvas (no pyplot figure is opened, nothing
shown), passed to shap through ``ax``; the x axis names the explanation's output scale.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import shap
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cxml.evaluation.plots import to_data_uri
from cxml.models.explanation import scale_of

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MAX_FEATURES = 12


def _axes(n_features: int) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(6.5, 0.35 * n_features + 1.6), dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def beeswarm(explanation: shap.Explanation, max_display: int = MAX_FEATURES) -> str:
    """One dot per customer and feature (``shap.plots.beeswarm``): its SHAP value, coloured by the feature value."""
    n = min(max_display, len(explanation.feature_names))
    fig, ax = _axes(n)
    shap.plots.beeswarm(explanation, max_display=max_display, ax=ax, show=False, plot_size=None)
    ax.set_xlabel(f"SHAP value ({scale_of(explanation)})")
    ax.set_title("SHAP values per customer")
    return to_data_uri(fig)


def bar(explanation: shap.Explanation, max_display: int = MAX_FEATURES) -> str:
    """Global drivers (``shap.plots.bar``): mean |SHAP value| per feature."""
    n = min(max_display, len(explanation.feature_names))
    fig, ax = _axes(n)
    shap.plots.bar(explanation, max_display=max_display, ax=ax, show=False)
    ax.set_xlabel(f"mean |SHAP value| ({scale_of(explanation)})")
    ax.set_title("Global drivers")
    return to_data_uri(fig)
