"""The documented Python examples run as written: every ```python block of the Python API page (the README links
to it), in order, in one namespace, from an empty temporary folder that is also the workspace (so nothing lands in
the checkout)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration
PAGE = Path(__file__).resolve().parents[2] / "docs" / "python-api.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)


def test_the_python_api_page_has_python_examples():
    blocks = python_blocks(PAGE.read_text())
    assert len(blocks) >= 2 and all(block.strip() for block in blocks)


def test_every_python_block_of_the_python_api_page_runs_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CXML_HOME", str(tmp_path / ".cxml"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    namespace: dict[str, Any] = {"__name__": "readme"}
    for number, block in enumerate(python_blocks(PAGE.read_text()), start=1):
        exec(compile(block, f"docs/python-api.md python block {number}", "exec"), namespace)
    # what the blocks promise: churn probabilities, one effect column per arm, an arm (or none) per customer, and
    # the campaign readout that names the voucher (+5 points) the winner while the email (no effect) continues
    ns = namespace
    proba = ns["model"].predict_proba(ns["churn_snapshot"]("2025-10-01")[0])[:, 1]
    assert len(proba) > 100 and ((proba >= 0) & (proba <= 1)).all()
    assert set(ns["effects"].columns) == {"voucher_5", "voucher_15", "letter"}
    chosen = ns["best_arm"](ns["incremental_profit"](ns["effects"], ns["costs"]))
    assert len(chosen) == len(ns["X"]) and set(chosen["arm"]) <= {"voucher_5", "voucher_15", "letter", "do_not_contact"}
    readout = ns["result"]
    assert readout.winner == "voucher" and readout.arm("email").decision == "continue"
    assert readout.arm("voucher").lower > 0 > readout.arm("email").lower
