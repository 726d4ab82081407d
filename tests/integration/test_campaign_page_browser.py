"""The campaign readout page in a real browser: served on 127.0.0.1, rendered by headless Chromium behind a sink
proxy (the model card test's set-up), so the test proves the page draws its figures offline and asks nothing of
the network."""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxml.campaigns.page import PALETTE, campaign_page
from cxml.campaigns.policies import make_policy
from cxml.campaigns.readout import readout
from cxml.campaigns.simulate import closed_loop
from cxml.campaigns.spec import CampaignSpec
from tests.integration.test_report_browser import PROBE, VIEWPORT, Sink, chromium, require_chromium, serve_folder

pytestmark = pytest.mark.integration
HEADINGS = (
    "Readout",
    "Against the holdout",
    "Allocation per arm over time",
    "Confidence sequences over time",
    "Cumulative outcome",
)


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    require_chromium()
    spec = CampaignSpec(campaign_id="browser", arms=("email", "sms", "none"), control="none", holdout_share=0.1)
    truth = pd.DataFrame({"customer_id": [f"C{i:05d}" for i in range(5000)], "email": 0.12, "sms": 0.07, "none": 0.05})
    loop = closed_loop(truth, spec, make_policy(spec), days=7, seed=3)
    result = readout(loop.assignments, loop.outcomes, spec)
    out = tmp_path_factory.mktemp("campaign-page")
    (out / "campaign.html").write_text(campaign_page(spec, loop.assignments, loop.outcomes, [], result))
    (out / "probe.html").write_text(PROBE)
    with serve_folder(out) as base:
        yield f"{base}/campaign.html", out


def test_page_renders_offline_with_its_figures(page: tuple[str, Path], tmp_path: Path) -> None:
    from PIL import Image

    url, out = page
    sink = Sink()
    try:
        shot = tmp_path / "page.png"
        proc = chromium(url, tmp_path, sink, f"--screenshot={shot}", "--window-size=1200,2400")
        dom = chromium(url, tmp_path, sink, "--dump-dom").stdout
    finally:
        sink.close()
    assert shot.exists(), proc.stderr[-2000:]
    shutil.copy(shot, out / "screenshot.png")  # kept beside the page for a human look
    for heading in HEADINGS:
        assert f"<h2>{heading}</h2>" in dom
    assert dom.count("<svg") == 3 and "<script" not in dom
    pixels = np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("RGB")).astype(int)
    for arm_colour in PALETTE[:2]:  # email and sms are drawn in their colours
        near = int((np.abs(pixels - _rgb(arm_colour)).sum(axis=2) < 30).sum())
        assert near > 500, f"{arm_colour}: {near} pixels"
    assert sink.page_requests() == [], f"requests left loopback: {sink.page_requests()[:3]}"


def test_page_fits_a_1280_px_window_without_scrolling_sideways(page: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = page
    base = url.rsplit("/", 1)[0]
    sink = Sink()
    try:
        probe = chromium(
            f"{base}/probe.html?page=campaign.html", tmp_path, sink, "--dump-dom", f"--window-size={VIEWPORT},900"
        )
    finally:
        sink.close()
    width = re.search(r'data-scroll-width="(\d+)"', probe.stdout)
    assert width, f"the probe did not measure the page: {probe.stdout[-500:]} {probe.stderr[-500:]}"
    assert 0 < int(width.group(1)) <= VIEWPORT
    assert sink.page_requests() == [], f"requests left loopback: {sink.page_requests()[:3]}"
