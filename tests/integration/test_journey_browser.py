"""The journey page in a real browser: served on 127.0.0.1, rendered by headless Chromium behind a sink proxy.

Same set-up as the model card test (``test_report_browser``): any request that is not to loopback lands in a
local TCP sink, so the test proves the page renders its plots offline and asks for nothing from outside.
"""

from __future__ import annotations

import io
import re
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from cxml.data.synthetic import write_company
from cxml.journey import write_journey
from tests.integration.test_report_browser import Sink, chromium, require_chromium, serve_folder

pytestmark = pytest.mark.integration
HEADINGS = (
    "Funnel",
    "Stitched journeys",
    "Conversion per segment and channel",
    "Channel flow",
    "Time to convert",
    "Numbers",
)
WEB_BLUE, APP_GREEN, STORE_ORANGE = (0x1F, 0x6F, 0xB2), (0x2E, 0x8B, 0x57), (0xD9, 0x91, 0x2B)


@pytest.fixture(scope="module")
def journey_page(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    require_chromium()
    data = tmp_path_factory.mktemp("company") / "co"
    write_company(data, n_customers=600, seed=3)
    out = tmp_path_factory.mktemp("journey")
    write_journey(data, out, as_of="2025-12-01", threads=1)
    with serve_folder(out) as base:
        yield f"{base}", out


def _pixels_near(pixels: np.ndarray, colour: tuple[int, int, int]) -> int:
    return int((np.abs(pixels - colour).sum(axis=2) < 30).sum())


def test_journey_page_renders_offline_in_chromium(journey_page, tmp_path):
    from PIL import Image

    base, out = journey_page
    sink = Sink()
    try:
        shot = tmp_path / "journey.png"
        proc = chromium(f"{base}/journey.html", tmp_path, sink, f"--screenshot={shot}", "--window-size=1280,4200")
        dom = chromium(f"{base}/journey.html", tmp_path, sink, "--dump-dom").stdout
    finally:
        sink.close()
    assert shot.exists(), proc.stderr[-2000:]
    shutil.copy(shot, out / "screenshot.png")  # kept beside the page for a human look
    for heading in HEADINGS:
        assert f"<h2>{heading}</h2>" in dom
    assert dom.count("<svg") == 3
    assert dom.count("<path") > 20, "the Sankey has too few bands"
    pixels = np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("RGB")).astype(int)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200, "screenshot is blank"
    assert _pixels_near(pixels, WEB_BLUE) > 20_000, "funnel/histogram bars or web nodes did not render"
    assert _pixels_near(pixels, APP_GREEN) > 500, "app nodes of the Sankey did not render"
    assert _pixels_near(pixels, STORE_ORANGE) > 500, "store nodes of the Sankey did not render"
    assert sink.page_requests() == [], f"requests left loopback: {sink.page_requests()[:3]}"


def test_every_link_on_the_page_is_served_beside_it(journey_page, tmp_path):
    base, _ = journey_page
    sink = Sink()
    try:
        page = chromium(f"{base}/journey.html", tmp_path, sink, "--dump-dom").stdout
    finally:
        sink.close()
    links = re.findall(r'href="([^"]+)"', page)
    assert {"funnel.csv", "segments.parquet", "flow_transitions.csv", "journeys.parquet"} <= set(links)
    for link in links:
        with urllib.request.urlopen(f"{base}/{link}", timeout=10) as resp:
            assert resp.status == 200 and resp.read(1)
    assert sink.page_requests() == []
