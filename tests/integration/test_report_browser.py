"""The model card in a real browser: served on 127.0.0.1, rendered by headless Chromium, offline.

Chromium is started with a proxy that is a local TCP sink, so any request that is not to loopback would land in
the sink instead of leaving the machine. Chromium itself (not the page) contacts a few Google service hosts at
start-up even with ``--disable-background-networking`` (network time, component updater, account check; seen on an
empty page too): those land in the sink and are listed in ``BROWSER_SERVICE_HOSTS``; every other request fails the
test. A control page with one external image proves the sink does catch what a page asks for.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from cxml import tracking
from cxml.config import PipelineConfig, Workspace
from cxml.datasets import get_family
from cxml.datasets.tables import table_dataset
from cxml.explain.card import write_card, write_index
from cxml.explain.card_html import render_index
from cxml.training import train
from tests.integration.test_report import HEADINGS, generated_table

pytestmark = pytest.mark.integration
CHROMIUM = Path("/usr/bin/chromium")
NAME = "cxml.churn.browser_test"
MODEL_BLUE = (0x1F, 0x6F, 0xB2)
SHAP_RED = (0xFF, 0x00, 0x51)  # shap.plots' positive colour (bar) and high feature values (beeswarm)
BROWSER_SERVICE_HOSTS = {"clients2.google.com", "update.googleapis.com", "accounts.google.com"}
VIEWPORT = 1280
PROBE = f"""<!DOCTYPE html><html><body style='margin:0'>
<iframe id='page' style='width:{VIEWPORT}px;height:900px;border:0'></iframe>
<script>
const frame = document.getElementById('page');
frame.onload = () => {{ document.body.dataset.scrollWidth = frame.contentDocument.documentElement.scrollWidth; }};
frame.src = new URLSearchParams(location.search).get('page');
</script></body></html>"""
"""A same-origin page that shows another in a 1,280 px wide frame and writes down how wide that page scrolls."""
FAMILY_METRICS = {
    "churn": 9,
    "survival": 11,
    "clv": 14,
    "uplift": 24,
    "cross_sell": 10,
    "price": 12,
    "lifecycle_stage": 8,
}
"""Seven champions with as many holdout metrics as the families log: the index must still fit the width."""


def _champion(family: str, n_metrics: int) -> dict:
    metrics = {f"{family}_holdout_metric_with_a_long_name_{i}": 1234.5678 * (i + 1) for i in range(n_metrics)}
    return {
        "model_name": f"cxml.{family}.a_rather_long_registered_model_name",
        "version": "12",
        "card": None,
        "family": family,
        "primary_metric": next(iter(metrics)),
        "holdout": metrics,
        "baseline": {k: v / 3 for k, v in metrics.items()},
        "feature_set": "customer360_with_all_the_extras",
        "gate_reason": "promoted: the primary metric's interval clears the baseline and the champion " * 3,
    }


def request_host(raw: bytes) -> str:
    """The host of a proxied request line: ``CONNECT host:443`` or ``GET http://host/path``."""
    parts = raw.split(b"\r\n", 1)[0].decode("latin-1").split()
    target = parts[1] if len(parts) > 1 else ""
    return (
        target.removeprefix("http://").split("/", 1)[0].rsplit(":", 1)[0]
        if "://" in target
        else target.rsplit(":", 1)[0]
    )


class Sink:
    """A TCP listener on 127.0.0.1 that records the first bytes of every connection it receives."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    self.requests.append(conn.recv(1024))
                except OSError:
                    self.requests.append(b"")

    def page_requests(self) -> list[bytes]:
        """What reached the sink apart from Chromium's own service calls."""
        return [r for r in self.requests if request_host(r) not in BROWSER_SERVICE_HOSTS]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def require_chromium() -> None:
    """Skip, naming the package, where Chromium is not installed (CI installs it)."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (Debian package `chromium`; .ci/run installs it)")


@contextlib.contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """A folder of pages over HTTP on a free loopback port, opened as a user opens them (not as files)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, Path, str]]:
    require_chromium()
    data, _ = table_dataset(generated_table(seed=7), "churned", name="browser_test", source="generated")
    cfg = PipelineConfig.model_validate(
        {"family": "churn", "tuning": {"n_trials": 2, "cv_folds": 2, "algorithms": ["xgboost"]}}
    )
    ws = Workspace(tmp_path_factory.mktemp("ws"))
    tracking.configure(ws)
    train(get_family("churn").spec, data, cfg, ws, model_name=NAME)
    out = tmp_path_factory.mktemp("reports")
    card, _ = write_card(NAME, None, out)
    write_index(out)
    (out / "index-families.html").write_text(render_index([], [_champion(f, n) for f, n in FAMILY_METRICS.items()]))
    (out / "probe.html").write_text(PROBE)
    (out / "control.html").write_text(
        "<!DOCTYPE html><html><body><h1>control</h1><img src='http://example.invalid/x.png'></body></html>"
    )
    with serve_folder(out) as base:
        yield f"{base}", out, card.name


def chromium(url: str, tmp: Path, sink: Sink, *extra: str) -> subprocess.CompletedProcess:
    profile = tmp / "profile"
    args = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--proxy-server=127.0.0.1:{sink.port}",  # loopback bypasses the proxy; everything else hits the sink
        "--virtual-time-budget=5000",
        *extra,
        url,
    ]
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=90)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_card_renders_offline_in_chromium(served, tmp_path):
    from PIL import Image

    base, out, card = served
    sink = Sink()
    try:
        shot = tmp_path / "card.png"
        proc = chromium(f"{base}/{card}", tmp_path, sink, f"--screenshot={shot}", "--window-size=1280,5200")
        dom = chromium(f"{base}/{card}", tmp_path, sink, "--dump-dom").stdout
    finally:
        sink.close()
    assert shot.exists(), proc.stderr[-2000:]
    shutil.copy(shot, out / "screenshot.png")  # kept beside the card for a human look
    for heading in HEADINGS:
        assert f"<h2>{heading}</h2>" in dom
    assert dom.count('<img src="data:image/png;base64,') == 5
    pixels = np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("RGB")).astype(int)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200, "screenshot is blank"
    blue = (np.abs(pixels - MODEL_BLUE).sum(axis=2) < 30).sum()
    assert blue > 2000, f"ROC, PR and reliability plots did not render: {blue} pixels of the model colour"
    red = (np.abs(pixels - SHAP_RED).sum(axis=2) < 30).sum()
    assert red > 5000, f"shap's bar and beeswarm did not render: {red} pixels of shap's red"
    assert sink.page_requests() == [], f"requests left loopback: {sink.page_requests()[:3]}"


def test_the_proxy_sink_does_catch_an_external_reference(served, tmp_path):
    base, _, _ = served
    sink = Sink()
    try:
        chromium(f"{base}/control.html", tmp_path, sink, "--dump-dom")
    finally:
        sink.close()
    assert [request_host(r) for r in sink.page_requests()] == ["example.invalid"], sink.requests


def test_index_renders_with_a_link_to_the_card(served, tmp_path):
    base, _, card = served
    sink = Sink()
    try:
        dom = chromium(f"{base}/index.html", tmp_path, sink, "--dump-dom").stdout
    finally:
        sink.close()
    assert f'href="{card}"' in dom and "Champions side by side" in dom
    assert sink.page_requests() == []


@pytest.mark.parametrize("page", ["index.html", "index-families.html"])
def test_index_fits_a_1280_px_window_without_scrolling_sideways(served, tmp_path, page):
    base, _, _ = served
    sink = Sink()
    try:
        dom = chromium(f"{base}/probe.html?page={page}", tmp_path, sink, "--dump-dom", f"--window-size={VIEWPORT},900")
        shown = chromium(f"{base}/{page}", tmp_path, sink, "--dump-dom").stdout
    finally:
        sink.close()
    width = re.search(r'data-scroll-width="(\d+)"', dom.stdout)
    assert width, f"the probe did not measure {page}: {dom.stdout[-500:]} {dom.stderr[-500:]}"
    assert 0 < int(width.group(1)) <= VIEWPORT
    assert shown.count('<div class="block">') == (1 if page == "index.html" else len(FAMILY_METRICS))
    assert sink.page_requests() == [], f"requests left loopback: {sink.page_requests()[:3]}"
