"""The documentation site: `mkdocs build --strict` from the checkout, then the built pages in headless Chromium.

The build is what `make docs` runs, written to a temporary folder so the checkout stays clean. The browser part
reuses the model-card test's loopback server pattern and its proxy sink: Chromium's every request that is not to
127.0.0.1 lands in the sink, so an empty sink proves the site (Material's theme, the search, the API reference)
fetches nothing from the internet.
"""

from __future__ import annotations

import ast
import io
import os
import re
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
DOCS = ROOT / "docs"
DOCS_TOOLS = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
NOT_DOCUMENTED = {"cxml": "only __version__"}
REFERENCE_PAGE = "reference/models.html"
NO_AUTOFILL = "--disable-features=AutofillServerCommunication"
"""Material's search box is a form field, and Chromium (not the page) asks its autofill service about every form
it sees (``content-autofill.googleapis.com``); the flag turns that service off so the sink stays strict."""


def _missing_docs_tools() -> list[str]:
    import importlib.util

    return [name for name in DOCS_TOOLS if importlib.util.find_spec(name.split(".")[0]) is None]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    if missing := _missing_docs_tools():
        pytest.skip(f"docs tools not installed ({', '.join(missing)}): install the `docs` extra to build the site")
    out = tmp_path_factory.mktemp("site")
    env = {
        **os.environ,
        "NO_MKDOCS_2_WARNING": "1",
        "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return out


def public_modules() -> set[str]:
    """Every module of the package as imported (``cxml.models.churn``), private ones left out, and every package
    whose ``__init__`` says something (one without a docstring only imports: its names live in its modules)."""
    names = set()
    for path in SRC.joinpath("cxml").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        if any(part.startswith("_") for part in parts if part != "__init__"):
            continue
        if parts[-1] == "__init__" and ast.get_docstring(ast.parse(path.read_text())) is None:
            continue
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names - set(NOT_DOCUMENTED)


def inventory(site: Path) -> dict[str, str]:
    """``objects.inv`` (the Sphinx inventory mkdocstrings writes): object name → its domain:role."""
    raw = (site / "objects.inv").read_bytes()
    body = raw.split(b"\n", 4)[4]
    entries = {}
    for line in zlib.decompress(body).decode().splitlines():
        name, role, *_ = line.split(" ")
        entries[name] = role
    return entries


def test_every_public_module_has_an_api_reference_entry(site):
    documented = {name for name, role in inventory(site).items() if role == "py:module"}
    missing = sorted(public_modules() - documented)
    assert not missing, f"modules without an API reference entry (add their package to docs/reference/): {missing}"
    assert {"cxml.models.churn", "cxml.serving.families", "cxml.training", "cxml.cli"} <= documented


def test_generated_sections_hold_what_the_code_declares(site):
    cli = (site / "command-line.html").read_text()
    for option in ("--as-of", "--calibration-end", "--log-quantity", "--compare-to", "--seed-file", "--no-serve"):
        assert f"<code>{option}</code>" in cli, option
    contract = (site / "bring-your-own-data.html").read_text()
    assert "<code>consent_marketing</code>" in contract and "<code>referrer_type</code>" in contract
    routes = (site / "http-api.html").read_text()
    for route in ("/churn_batch", "/cross_sell_pair", "/price", "/segment", "/docs.json"):
        assert f"{route}</code>" in routes, route


def test_no_page_references_anything_outside_the_site(site):
    external = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["'](?:https?:)?//""", re.IGNORECASE)
    offenders = [str(p.relative_to(site)) for p in site.rglob("*.html") if external.search(p.read_text())]
    assert offenders == [], f"pages load something from outside the site: {offenders[:5]}"


def test_readme_links_into_the_site_resolve():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#]+)(?:#[^)]*)?\)", readme)
    assert len(links) >= 5, "the README should point into the site's pages"
    assert [link for link in links if not (ROOT / link).exists()] == []
    assert "make demo" in readme and "make test" in readme and "make docs" in readme


@pytest.fixture(scope="module")
def served_site(site) -> Iterator[str]:
    from tests.integration.test_report_browser import require_chromium, serve_folder

    require_chromium()
    with serve_folder(site) as base:
        yield f"{base}"


def _dom(url: str, tmp: Path) -> tuple[str, list[bytes]]:
    from tests.integration.test_report_browser import Sink, chromium

    sink = Sink()
    try:
        dom = chromium(url, tmp, sink, NO_AUTOFILL, "--dump-dom").stdout
    finally:
        sink.close()
    return dom, sink.page_requests()


def _nav_titles(dom: str) -> set[str]:
    """The titles of the primary navigation's links, as rendered."""
    nav = dom[dom.find('class="md-nav md-nav--primary"') :]
    return {" ".join(t.split()) for t in re.findall(r'<span class="md-ellipsis">\s*(.*?)\s*</span>', nav, re.DOTALL)}


def test_the_index_renders_offline_with_its_navigation(served_site, tmp_path):
    from PIL import Image

    from tests.integration.test_report_browser import Sink, chromium

    dom, leaked = _dom(f"{served_site}/index.html", tmp_path)
    assert "<title>cxml</title>" in dom
    assert 'id="the-questions-it-answers"' in dom
    pages = {"Getting started", "Bring your own data", "HTTP API", "When you outgrow one machine", "API reference"}
    assert pages <= _nav_titles(dom)
    assert leaked == [], f"requests left loopback: {leaked[:3]}"

    sink = Sink()
    try:
        shot = tmp_path / "index.png"
        chromium(
            f"{served_site}/index.html", tmp_path, sink, NO_AUTOFILL, f"--screenshot={shot}", "--window-size=1280,1600"
        )
    finally:
        sink.close()
    pixels = np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("RGB")).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 50, "the index rendered blank"
    assert sink.page_requests() == []


def test_an_api_reference_page_renders_from_the_docstrings(served_site, tmp_path):
    dom, leaked = _dom(f"{served_site}/{REFERENCE_PAGE}", tmp_path)
    assert "<title>cxml.models - cxml</title>" in dom
    assert 'id="cxml.models.churn"' in dom and 'id="cxml.models.churn.ChurnClassifier"' in dom
    assert "doc-signature" in dom or "doc-heading" in dom
    assert "API reference" in _nav_titles(dom)
    assert leaked == [], f"requests left loopback: {leaked[:3]}"


PLANNED_PAGES: dict[str, str] = {}
"""Pages that describe commands not built yet (and say so in a box or a 'Not built yet' section), each with the
issue building them; empty while every page describes what runs."""


def documented_commands() -> list[tuple[str, str]]:
    """Every ``cxml …`` command line the pages show, in code spans and code blocks, with the page it is on."""
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        name = page.relative_to(DOCS).as_posix()
        if name in PLANNED_PAGES:
            continue
        text = page.read_text()
        lines = re.findall(r"`(cxml [^`]+)`", text)
        for block in re.findall(r"^```(?:bash|console)\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE):
            lines += [ln.removeprefix("$ ") for ln in block.splitlines() if ln.removeprefix("$ ").startswith("cxml ")]
        found += [(name, line.split("#")[0].strip()) for line in lines]
    return found


def test_every_documented_command_and_option_exists():
    """The guides are written by hand: each ``cxml`` command they show must exist with every option it uses."""
    import typer

    from cxml.cli import app

    root = typer.main.get_command(app)
    global_options = {opt for p in root.params for opt in p.opts}
    takes_value = {opt for p in root.params if not getattr(p, "is_flag", False) for opt in p.opts}
    wrong = []
    commands = documented_commands()
    for page, line in commands:
        words = line.replace("\\|", " ").split()[1:]
        while words and words[0].startswith("-"):  # global options before the command (`cxml --tracking-uri URI …`)
            word = words.pop(0)
            option = word.split("=")[0]
            if option not in global_options:
                wrong.append(f"{page}: `{line}`: {option} is not an option of cxml itself")
            elif "=" not in word and option in takes_value and words:
                words.pop(0)
        command = root
        while words and words[0] in (subcommands := getattr(command, "commands", {})):
            command = subcommands[words.pop(0)]
        if command is root and words and not words[0].startswith("-"):
            wrong.append(f"{page}: `{line}`: no command {words[0]!r}")
            continue
        known = {opt for p in command.params for opt in [*p.opts, *p.secondary_opts]} | global_options | {"--help"}
        for word in words:
            option = word.strip("[]()").split("=")[0]
            if option.startswith("--") and option not in known:
                wrong.append(f"{page}: `{line}`: {option} is not an option of {command.name}")
    assert len(commands) > 40
    assert wrong == [], "\n".join(wrong)
