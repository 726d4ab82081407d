"""Pages from templates: one stylesheet inlined in every page, values escaped, numbers formatted, names checked."""

import re

import jinja2
import numpy as np
import pandas as pd
import pytest

from cxml.evaluation.grades import Grade
from cxml.explain.card_data import CardData, Example
from cxml.explain.card_html import INDEX_METRICS, render_card, render_index
from cxml.features.reasons import Reason
from cxml.html import num, render_string, stylesheet

pytestmark = pytest.mark.unit
PNG = "data:image/png;base64,iVBORw0KGgo="
EXTERNAL = re.compile(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/|@import|<link|<script", re.IGNORECASE)


def _body(html: str) -> str:
    return re.sub(r"<style>.*?</style>", "", html, flags=re.S)


def test_num_formats_numbers_and_shows_a_dash_for_missing_ones():
    assert num(np.int64(12345), ",") == "12,345" and num(0.1234, ".1%") == "12.3%"
    assert [num(v) for v in (None, float("nan"), np.inf)] == ["–", "–", "–"]
    assert num(np.float32(0.5), ".2f") == "0.50"


def test_a_page_extends_the_base_with_the_stylesheet_inlined_once():
    html = render_string(
        '{% extends "base.html" %}{% from "macros.html" import table %}{% block title %}t{% endblock %}'
        "{% block content %}{{ table(['a', 'b'], rows, numeric=(1,)) }}{% endblock %}",
        rows=[["<x>", "1"]],
    )
    assert html.startswith("<!DOCTYPE html>") and html.count("<style>") == 1 and stylesheet() in html
    assert "<td>&lt;x&gt;</td><td class='num'>1</td>" in html
    assert not EXTERNAL.search(html)


def test_a_name_the_page_was_not_given_fails_loudly():
    with pytest.raises(jinja2.UndefinedError, match="rows"):
        render_string('{% extends "base.html" %}{% block content %}{{ rows }}{% endblock %}')


def _card(family: str = "churn", name: str = "cxml.churn") -> CardData:
    segments = pd.DataFrame(
        [
            {"dimension": "plan", "segment": "basic", "rows": 1200, "label_rate": 0.2}
            | {"roc_auc": 0.81, "pr_auc": 0.5, "gap": 0.06, "flagged": True},
            {"dimension": "plan", "segment": "plus", "rows": 40, "label_rate": 0.1}
            | {"roc_auc": np.nan, "pr_auc": np.nan, "gap": np.nan, "flagged": False},
        ]
    )
    return CardData(
        model_name=name,
        version="3",
        run_id="r1",
        aliases=["champion"],
        family=family,
        data={"source": "generated"},
        primary_metric="roc_auc",
        metrics={"roc_auc": (0.83, 0.81, 0.85), "brier": (0.12, np.nan, np.nan)},
        baseline={"roc_auc": (0.7, 0.68, 0.72), "brier": (0.15, 0.14, 0.16)},
        champion={},
        grade=Grade("A", 0.18, "beats the baseline"),
        gate_passed=False,
        gate_reason="refused: <b>worse</b> than the champion",
        validation_status="rejected",
        figures={k: PNG for k in ("roc", "pr", "reliability", "shap_bar", "shap_beeswarm")},
        examples=[Example("C1", "highest risk", 0.91, 1, [Reason("f0", 3.0, 0.2, "f0 = 3 raises risk by 0.20")])],
        segments=segments,
    )


def test_the_churn_card_has_every_section_its_figures_and_escaped_text():
    html = render_card(_card(name="cxml.churn<script>"))
    headings = re.findall(r"<h2>([^<]+)</h2>", html)
    assert headings == [
        "Data",
        "Metrics",
        "Grade",
        "Calibration",
        "ROC and precision-recall curves",
        "Global drivers (SHAP)",
        "Example customers",
        "Performance per segment",
        "Gate decision",
    ]
    assert html.count(f"src='{PNG}'") == 5 and not EXTERNAL.search(html)
    assert "cxml.churn&lt;script&gt;" in html and "&lt;b&gt;worse&lt;/b&gt;" in html
    assert "<span class='refused'>refused</span>" in html and "1 segment(s) flagged" in html
    assert "<tr class='flag'><td>plan</td><td>basic</td><td class='num'>1,200</td><td class='num'>20.0%</td>" in html
    assert (
        "0.8300 <span class='muted'>[0.8100, 0.8500]</span>" in html
        and "0.1200 <span class='muted'>[–, –]</span>" in html
    )


def test_a_family_without_its_own_sections_shows_its_plots_by_title():
    card = _card(family="clv")
    html = render_card(
        CardData(**{**card.__dict__, "figures": {"Holdout value by decile": PNG}, "segments": pd.DataFrame()})
    )
    assert "<h2>Holdout value by decile</h2>" in html and "Example customers" not in html


def _champion(family: str, metrics: dict[str, float], primary: str) -> dict:
    return {
        "model_name": f"cxml.{family}",
        "version": "2",
        "card": None,
        "family": family,
        "primary_metric": primary,
        "holdout": {**metrics, **{f"{m}_ci_low": v - 0.01 for m, v in metrics.items()}},
        "baseline": {m: v / 2 for m, v in metrics.items()},
        "feature_set": "customer360",
        "gate_reason": "promoted: beats the baseline " * 6,
    }


def test_the_index_compares_each_family_on_its_own_metrics_in_one_block():
    churn = _champion("churn", {"roc_auc": 0.85, "pr_auc": 0.6, "brier": 0.1}, "roc_auc")
    clv = _champion("clv", {f"metric_{i:02d}": float(i) for i in range(12)} | {"rmse": 852.0}, "rmse")
    html = _body(render_index([], [churn, clv]))
    blocks = re.findall(r"<div class='block'>(.*?)</div>", html, flags=re.S)
    assert len(blocks) == 2
    churn_rows = re.findall(r"<tr><td>([^<]+)</td>", blocks[0])
    assert churn_rows == ["roc_auc ★", "brier", "pr_auc"]  # its own three, primary first, no other family's
    clv_rows = re.findall(r"<tr><td>([^<]+)</td>", blocks[1])
    assert clv_rows[0] == "rmse ★" and len(clv_rows) == INDEX_METRICS and "roc_auc" not in blocks[1]
    assert "+5 more on the card" in blocks[1]
    assert "<td class='num'>852.0000</td><td class='num'>426.0000</td>" in blocks[1]
    assert "_ci_low" not in html
