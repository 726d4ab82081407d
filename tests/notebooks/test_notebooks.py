"""Every notebook in notebooks/ runs top to bottom in a kernel of this venv, and is stored without outputs.

The notebooks share one generated company (``CXML_NOTEBOOK_DATA``, read by their parameters cell) and write only
to temporary folders (``TMPDIR`` points into pytest's ``tmp_path``). A failing cell fails its notebook's test
with the cell's number, source and traceback.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from cxml.data.synthetic import write_company
from tests.conftest import ROOT

pytestmark = pytest.mark.notebooks
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CUSTOMERS, SEED = 3_000, 0  # the notebooks' own defaults: the shared company is the one they would generate
KERNEL = "cxml-venv"
CELL_TIMEOUT_S = 300
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the kernel colours its tracebacks


def test_there_is_a_notebook_per_question():
    names = [p.stem for p in NOTEBOOKS]
    assert all(re.fullmatch(r"\d\d-[a-z0-9-]+", n) for n in names), names
    assert len(names) >= 7 and len({n[:2] for n in names}) == len(names), names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    dirty = [i for i, c in enumerate(book.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs; clear them before committing"


@pytest.fixture(scope="session")
def notebook_env(tmp_path_factory) -> dict[str, str]:
    """A kernel spec running this interpreter, one generated company, and a private TMPDIR."""
    base = tmp_path_factory.mktemp("notebooks")
    spec = base / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"}))
    company = base / "company"
    write_company(company, CUSTOMERS, seed=SEED)
    (base / "tmp").mkdir()
    return {
        "JUPYTER_PATH": str(base / "jupyter"),
        "CXML_NOTEBOOK_DATA": str(company),
        "CXML_REPO": str(ROOT),
        "TMPDIR": str(base / "tmp"),
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, notebook_env, monkeypatch):
    for key, value in notebook_env.items():
        monkeypatch.setenv(key, value)
    before = sorted(p.name for p in (ROOT / "notebooks").iterdir())
    book = nbformat.read(path, as_version=4)
    client = NotebookClient(
        book, kernel_name=KERNEL, timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": str(path.parent)}}
    )
    t0 = time.perf_counter()
    error = None
    try:
        client.execute()
    except CellExecutionError as exc:
        error = ANSI.sub("", str(exc))
    if error is not None:  # failed outside the except block, so pytest shows the cell once, without the chain
        failed = next(
            (i for i, c in enumerate(book.cells) if any(o.get("output_type") == "error" for o in c.get("outputs", []))),
            "?",
        )
        pytest.fail(f"{path.name}: cell {failed} failed\n{error}", pytrace=False)
    seconds = time.perf_counter() - t0
    print(f"\n{path.name}: {seconds:.1f}s")
    assert seconds < 180, f"{path.name} took {seconds:.0f}s (the budget is 3 minutes on 2 cores)"
    assert sorted(p.name for p in (ROOT / "notebooks").iterdir()) == before, "a notebook wrote into notebooks/"
    assert not (ROOT / "mlruns").exists(), "a notebook wrote an MLflow store into the repository"
