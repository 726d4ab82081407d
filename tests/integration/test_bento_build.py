"""The Bento installs cxml as a package: an installed cxml (a wheel in a fresh environment, no checkout) builds
it; the Bento carries the wheel and the hashed runtime lock, no source and no PYTHONPATH; installed the way its
image installs it, ``bentoml serve`` of the built Bento answers ``/readyz`` over HTTP."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from cxml.jobs.package import build_wheel
from tests.integration.fresh_env import fresh_venv, install_locked, installed, outside_env, run
from tests.integration.serving_fixtures import REPO, Served, free_port

pytestmark = pytest.mark.integration

DEV_TOOLS = ("pytest", "ruff", "mypy", "schemathesis", "ipykernel", "import-linter", "mkdocs")


@pytest.fixture(scope="module")
def bento(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Bento built by a cxml installed from its wheel (no checkout on the path): its folder in the store."""
    root = tmp_path_factory.mktemp("bento-build")
    python = fresh_venv(root / "builder")
    install_locked(python, REPO / "requirements.lock", build_wheel(REPO, root / "dist"))
    code = (
        "import cxml; from cxml.config import Workspace; from cxml.jobs.export import build_bento; "
        "assert 'site-packages' in cxml.__file__, cxml.__file__; "
        f"print(build_bento(Workspace({str(served.ws.root)!r})))"
    )
    out = run([str(python), "-c", code], cwd=root, env=outside_env(root / "builder"), timeout=600)
    name, version = out.stdout.strip().splitlines()[-1].split(":")
    return served.ws.bentoml_home / "bentos" / name / version


def test_the_bento_carries_the_wheel_and_the_runtime_lock_not_the_source(bento: Path, served: Served) -> None:
    wheels = sorted(p.name for p in (bento / "env" / "python" / "wheels").iterdir())
    assert len(wheels) == 1 and wheels[0].startswith("cxml-") and wheels[0].endswith("-py3-none-any.whl")
    requirements = (bento / "env" / "python" / "requirements.txt").read_text()
    assert "--hash=sha256:" in requirements and "mlflow==" in requirements
    assert not [tool for tool in DEV_TOOLS if f"\n{tool}==" in requirements]
    assert not list((bento / "src").rglob("*.py"))  # the code is in the wheel, nowhere else
    text = (bento / "bento.yaml").read_text()
    assert "PYTHONPATH" not in {env["name"] for env in yaml.safe_load(text).get("envs", [])}
    assert all(tag in text for tag in served.tags.values()) and ":latest" not in text  # exact tags only


def test_the_built_bento_installed_as_its_image_answers_readyz(bento: Path, served: Served, tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "image")
    # install.sh installs with uv when it finds one, else with whatever pip3 is on the path (which may be the
    # machine's own Python): only this environment's uv is added to the path, and it must be there
    uv = Path(sys.executable).parent / "uv"
    assert uv.is_file(), f"no uv beside {sys.executable}: make venv installs it (requirements-dev.lock)"
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "uv").symlink_to(uv)
    env = outside_env(tmp_path / "image", VIRTUAL_ENV=str(tmp_path / "image"))
    env["PATH"] = f"{tmp_path / 'image' / 'bin'}{os.pathsep}{tools}{os.pathsep}/usr/bin:/bin"
    run(["bash", str(bento / "env" / "python" / "install.sh")], cwd=tmp_path, env=env, timeout=600)
    present = installed(python)
    assert "cxml" in present and not present & set(DEV_TOOLS)
    src = bento / "src"
    env = {
        **env,
        "BENTOML_HOME": str(served.ws.bentoml_home),
        "CXML_MANIFEST": str(src / "models" / "served.json"),
        "CXML_POLICY": str(src / "models" / "policy.yaml"),
        "CXML_WORKERS": "1",
    }
    with _serving(python, f"{bento.parent.name}:{bento.name}", env, tmp_path) as port:
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        churn = httpx.post(f"http://127.0.0.1:{port}/churn", json={"customer_id": served.features.index[0]}, timeout=10)
    assert ready.status_code == 200
    assert churn.status_code == 200 and churn.json()["model_version"] == served.version


@contextlib.contextmanager
def _serving(python: Path, tag: str, env: dict[str, str], logs: Path) -> Iterator[int]:
    """``bentoml serve`` of the built Bento on a free loopback port, ready; another port when a parallel test took
    the first one between choosing and binding it."""
    for attempt in range(3):
        port, log = free_port(), logs / f"serve-{attempt}.log"
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                [str(python), "-m", "bentoml", "serve", tag, "--host", "127.0.0.1", "--port", str(port)],
                cwd=logs,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            if _ready(port, proc, log):
                yield port
                return
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)  # the server and its workers: the group this test started
                proc.wait(timeout=30)
    raise AssertionError(f"no free port in 3 tries: {log.read_text()[-3000:]}")


def _ready(port: int, proc: subprocess.Popen[bytes], log: Path) -> bool:
    """True once ``/readyz`` answers 200; False when the port was taken; fails with the log otherwise."""
    deadline = time.monotonic() + 180  # a shared 2-core box under load is slow to start workers
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            if "Address already in use" in log.read_text():
                return False
            raise AssertionError(f"bentoml serve exited with {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
            if response.status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"not ready in 180 s: {log.read_text()[-3000:]}")
