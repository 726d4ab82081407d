"""Every test file carries the tier marker of its folder, so `pytest -m unit` (or -m integration, …) selects
every test of that tier: a file without `pytestmark = pytest.mark.<folder>` would silently fall out of all of them."""

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

TESTS = Path(__file__).resolve().parents[1]
TIERS = ("unit", "integration", "e2e", "quality", "notebooks")


def _is_tier_mark(node: ast.expr, tier: str) -> bool:
    """`pytest.mark.<tier>`, bare or called (`pytest.mark.<tier>(...)`)."""
    if isinstance(node, ast.Call):
        node = node.func
    return (
        isinstance(node, ast.Attribute)
        and node.attr == tier
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "mark"
        and isinstance(node.value.value, ast.Name)
        and node.value.value.id == "pytest"
    )


def module_tiers(path: Path) -> set[str]:
    """The tiers named by the module-level `pytestmark` (a single mark or a list/tuple of marks)."""
    found: set[str] = set()
    for stmt in ast.parse(path.read_text(), filename=str(path)).body:
        if not isinstance(stmt, ast.Assign | ast.AnnAssign) or stmt.value is None:
            continue
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        if any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in targets):
            marks = stmt.value.elts if isinstance(stmt.value, ast.List | ast.Tuple) else [stmt.value]
            found |= {tier for mark in marks for tier in TIERS if _is_tier_mark(mark, tier)}
    return found


TEST_FILES = sorted(TESTS.rglob("test_*.py"))


def test_the_test_files_are_found():
    assert len(TEST_FILES) > 50 and Path(__file__).resolve() in TEST_FILES


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: str(p.relative_to(TESTS)))
def test_each_test_file_carries_the_marker_of_its_folder(path: Path):
    folder = path.relative_to(TESTS).parts[0]
    assert folder in TIERS, f"{path.relative_to(TESTS)} is outside the tier folders {TIERS}"
    assert module_tiers(path) == {folder}, (
        f"{path.relative_to(TESTS)} needs `pytestmark = pytest.mark.{folder}` (found {sorted(module_tiers(path))})"
    )


def test_the_check_reads_single_marks_lists_and_calls(tmp_path):
    cases = {
        "pytestmark = pytest.mark.unit\n": {"unit"},
        "pytestmark = [pytest.mark.quality, pytest.mark.filterwarnings('ignore')]\n": {"quality"},
        "pytestmark = (pytest.mark.e2e(),)\n": {"e2e"},
        "import pytest\n\n\ndef test_x():\n    pytestmark = pytest.mark.unit\n": set(),  # not at module level
        "pytestmark = pytest.mark.slow\n": set(),
    }
    for source, tiers in cases.items():
        path = tmp_path / "test_case.py"
        path.write_text(source)
        assert module_tiers(path) == tiers, source
