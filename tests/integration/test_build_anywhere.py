"""The Bento builds wherever the project sits: BentoML refuses build paths with a component that starts with ".",
so ``cxml build`` stages the build under /tmp. A clone under ``.local/src`` builds the served champions."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.integration.serving_fixtures import REPO

pytestmark = pytest.mark.integration


def test_the_bento_builds_from_a_clone_under_a_dotted_path(served, tmp_path):
    clone = tmp_path / ".local" / "src" / "cxml"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=120)
    env = {**os.environ, "PYTHONPATH": str(clone / "src"), "BENTOML_DO_NOT_TRACK": "true"}
    code = (
        "import cxml, sys; from cxml.config import Workspace; from cxml.jobs.export import build_bento; "
        f"assert cxml.__file__.startswith({str(clone)!r}), cxml.__file__; "
        f"print(build_bento(Workspace({str(served.ws.root)!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    tag = out.stdout.strip().splitlines()[-1]
    assert tag.startswith("cxml:"), out.stdout
    shown = subprocess.run(
        [sys.executable, "-m", "bentoml", "get", tag, "-o", "json"],
        env={**env, "BENTOML_HOME": str(served.ws.bentoml_home)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    packed = {m["tag"] for service in json.loads(shown.stdout)["services"] for m in service["models"]}
    assert packed == set(served.tags.values())  # the manifest's exact tags, nothing floating
