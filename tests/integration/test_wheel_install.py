"""cxml installs as a package beside nothing but its runtime lock: the built wheel in a fresh virtual environment
runs ``cxml --version`` and imports every ``cxml.*`` module from site-packages, with its package data."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from cxml.jobs.package import build_wheel
from tests.integration.fresh_env import fresh_venv, install_locked, installed, outside_env, run

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DEV_TOOLS = {"pytest", "ruff", "mypy", "schemathesis", "ipykernel", "import-linter", "mkdocs", "uv", "hypothesis"}


@dataclass(frozen=True)
class Installed:
    python: Path
    venv: Path
    wheel: Path


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel-install")
    wheel = build_wheel(REPO, root / "dist")
    python = fresh_venv(root / "venv")
    install_locked(python, REPO / "requirements.lock", wheel)
    return Installed(python, root / "venv", wheel)


def _modules() -> list[str]:
    """Every module of the source tree, as a dotted name."""
    src = REPO / "src"
    names = (p.relative_to(src).with_suffix("").parts for p in (src / "cxml").rglob("*.py"))
    return sorted(".".join(parts[:-1] if parts[-1] == "__init__" else parts) for parts in names)


def test_the_runtime_lock_alone_satisfies_the_wheel_and_carries_no_dev_tools(wheel_env: Installed) -> None:
    present = installed(wheel_env.python)
    assert "cxml" in present and {"bentoml", "mlflow", "xgboost-cpu", "scipy", "jinja2"} <= present
    assert not present & DEV_TOOLS, sorted(present & DEV_TOOLS)
    # xgboost-cpu: the same module without the 468 MB NVIDIA library the `xgboost` wheel pulls (DESIGN §10)
    assert "xgboost" not in present and not any(name.startswith("nvidia-nccl") for name in present)


def test_cxml_version_runs_from_the_installed_script(wheel_env: Installed, tmp_path: Path) -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    out = run([str(wheel_env.venv / "bin" / "cxml"), "--version"], cwd=tmp_path, env=outside_env(wheel_env.venv))
    assert out.stdout.strip() == f"cxml {version}"


IMPORT_EVERY_MODULE = """
import importlib, json, sys
from importlib import resources
failed = {}
for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = repr(exc)
import cxml
data = resources.files("cxml")
print(json.dumps({
    "failed": failed,
    "file": cxml.__file__,
    "sql": sorted(p.name for p in data.joinpath("features", "sql").iterdir()),
    "pipelines": sorted(p.name for p in data.joinpath("pipelines").iterdir() if p.name.endswith(".yaml")),
    "bento": sorted(p.name for p in data.joinpath("_bento").iterdir()),
}))
"""


def test_every_module_imports_from_site_packages_with_its_package_data(wheel_env: Installed, tmp_path: Path) -> None:
    modules = _modules()
    # the service reads its manifest at import: one naming a model it never loads is enough to import it
    manifest = tmp_path / "served.json"
    manifest.write_text(json.dumps({"churn": "cxml-churn:abcdef123456"}))
    env = outside_env(wheel_env.venv, CXML_MANIFEST=str(manifest), BENTOML_HOME=str(tmp_path / "bentoml"))
    out = run([str(wheel_env.python), "-c", IMPORT_EVERY_MODULE, json.dumps(modules)], cwd=tmp_path, env=env)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(modules) > 100 and report["failed"] == {}
    assert Path(report["file"]).is_relative_to(wheel_env.venv) and "site-packages" in report["file"]
    assert report["sql"] == sorted(p.name for p in (REPO / "src/cxml/features/sql").iterdir())
    assert report["pipelines"] == sorted(p.name for p in (REPO / "src/cxml/pipelines").glob("*.yaml"))
    assert report["bento"] == ["bentofile.yaml", "requirements.lock"]
