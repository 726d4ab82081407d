"""The campaign readout page on the shared templates: one stylesheet (the shared one), no CSS of its own, nothing
fetched, and the numbers and figures the readout computed."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from cxml.campaigns.page import PALETTE, Series, campaign_page, line_chart
from cxml.campaigns.policies import make_policy
from cxml.campaigns.readout import Readout, readout
from cxml.campaigns.simulate import closed_loop
from cxml.campaigns.spec import CampaignSpec
from cxml.html import stylesheet

pytestmark = pytest.mark.unit
EXTERNAL = re.compile(r"https?://(?!www\.w3\.org/2000/svg)|@import|<link|<script", re.IGNORECASE)
MARKER = "/* The one stylesheet of every cxml page"


@pytest.fixture(scope="module")
def campaign() -> tuple[CampaignSpec, Readout, str]:
    spec = CampaignSpec(campaign_id="<unit>", arms=("email", "sms", "none"), control="none", holdout_share=0.1)
    truth = pd.DataFrame({"customer_id": [f"C{i:04d}" for i in range(2000)], "email": 0.2, "sms": 0.08, "none": 0.05})
    loop = closed_loop(truth, spec, make_policy(spec), days=5, seed=11)
    result = readout(loop.assignments, loop.outcomes, spec)
    return spec, result, campaign_page(spec, loop.assignments, loop.outcomes, [], result)


def test_the_page_carries_the_shared_stylesheet_and_no_style_of_its_own(campaign):
    _, _, html = campaign
    assert html.startswith("<!DOCTYPE html>") and MARKER in stylesheet()
    assert html.count(MARKER) == 1 and stylesheet() in html
    assert len(re.findall(r"<style\b", html)) == 1, "a second <style> block: the page must use cxml.css"
    assert not EXTERNAL.search(html)


def test_the_page_shows_the_readout_numbers_escaped(campaign):
    _, result, html = campaign
    assert "<title>Campaign &lt;unit&gt;</title>" in html and "<unit>" not in html
    for arm in result.arms:
        assert f"<td>{arm.arm}</td><td class='num'>{arm.n:,}</td><td class='num'>{arm.mean:.4f}</td>" in html
        assert f"<span class='{arm.decision}'>{arm.decision}</span>" in html
    assert result.holdout is not None
    assert f"{result.holdout.n_campaign:,} / {result.holdout.n_holdout:,}" in html
    assert f"{result.n:,} customers logged" in html
    headings = re.findall(r"<h2>(.*?)</h2>", html)
    assert headings == [
        "Readout",
        "Against the holdout",
        "Allocation per arm over time",
        "Confidence sequences over time",
        "Cumulative outcome",
    ]
    assert html.count("<svg") == 3 and html.count("<figcaption class='legend'>") == 3
    # two arms beside the control carry a band each; the outcome chart's uniform and holdout lines are dashed
    assert html.count("<polygon") == 2 and html.count("stroke-dasharray='6 4'") == 2
    assert f"stroke='{PALETTE[0]}'" in html and f"stroke='{PALETTE[1]}'" in html


def test_line_chart_places_points_in_the_plot_area():
    times = list(pd.date_range("2026-01-01", periods=3, freq="D"))
    chart = line_chart(
        times,
        [
            Series(
                "a", np.array([0.0, 0.5, 1.0]), "#000000", np.array([-1.0, np.nan, 0.0]), np.array([1.0, np.nan, 2.0])
            )
        ],
        label="l",
        y_label="y",
        rules=(0.0,),
    )
    plot = chart["plot"]
    xs, ys = zip(*(map(float, p.split(",")) for p in chart["lines"][0]["points"].split()), strict=True)
    assert xs == (plot["x"], plot["x"] + plot["w"] / 2, plot["x"] + plot["w"])
    # y runs from -1 to 2 padded by 5 %: the top of the band sits 5 % of the range below the plot's top
    span = plot["h"] / 3.3
    assert ys[2] == pytest.approx(plot["y"] + span * (2.15 - 1.0), abs=0.06)
    assert chart["rules"][0] == pytest.approx(plot["y"] + span * 2.15, abs=0.06)
    assert len(chart["bands"][0]["points"].split()) == 4  # the missing look is left out of the band
    assert [t["text"] for t in chart["x_ticks"]] == ["01-01", "01-02", "01-03"]
