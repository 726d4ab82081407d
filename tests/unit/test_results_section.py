"""bench/results_section.py: a script rewrites its own section (or its marked block) and nothing else, byte for byte."""

from pathlib import Path

import pytest
from bench.results_section import END, begin_marker, markdown_table, replace_generated, replace_section

pytestmark = pytest.mark.unit

DOC = (
    "# Results\n\nintro\n\n"
    "## Churn against its peers (`bench/churn_peers.py`)\n\nold churn\n\n### telco\n\nold telco table\n\n"
    "## Price sensitivity against its peers (`bench/price_peers.py`)\n\nold price\n\n### Reading\n\nkept prose\n\n"
    "## Lifecycle against its peers (`bench/lifecycle_peers.py`) and the ground truth\n\nold lifecycle\n"
)


@pytest.fixture
def results(tmp_path: Path) -> Path:
    path = tmp_path / "RESULTS.md"
    path.write_bytes(DOC.encode())
    return path


def test_a_middle_section_is_replaced_with_its_subsections_and_the_rest_is_byte_identical(results: Path) -> None:
    replace_section(results, "Price sensitivity against its peers", "new price\n\n### Dominick's\n\nnew table")

    text = results.read_text()
    before, after = DOC.split("## Price sensitivity")[0], DOC.split("## Lifecycle")[1]
    assert text.startswith(before)
    assert text.endswith("## Lifecycle" + after)
    assert "## Price sensitivity against its peers (`bench/price_peers.py`)\n\nnew price\n\n### Dominick's\n\n" in text
    assert "old price" not in text and "kept prose" not in text and "### Reading" not in text  # its own ### go
    assert "### telco\n\nold telco table\n\n## Price" in text  # another section's ### stays


def test_the_last_section_is_replaced_up_to_the_end_of_the_file(results: Path) -> None:
    replace_section(results, "## Lifecycle against its peers", "new lifecycle\n")

    assert results.read_text() == DOC.replace("old lifecycle\n", "new lifecycle\n")


def test_an_absent_heading_appends_the_section_and_keeps_the_file(results: Path) -> None:
    replace_section(results, "Uplift against its peers (`bench/uplift_peers.py`)", "\n\nuplift table\n\n")

    assert results.read_text() == DOC + "\n## Uplift against its peers (`bench/uplift_peers.py`)\n\nuplift table\n"


def test_a_missing_file_is_created_with_the_section(tmp_path: Path) -> None:
    path = tmp_path / "new.md"
    replace_section(path, "Price", "table")

    assert path.read_text() == "## Price\n\ntable\n"
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_generated_block_is_replaced_and_the_prose_around_it_survives(results: Path) -> None:
    begin = begin_marker("bench/price_peers.py")
    replace_section(results, "Price sensitivity", f"before\n\n{begin}\nrun 1\n{END}\n\n### Reading\n\nkept prose")
    once = results.read_text()

    replace_generated(results, "Price sensitivity", "bench/price_peers.py", "run 2\n\n### company\n\n| a |\n")

    run_2 = f"{begin}\nrun 2\n\n### company\n\n| a |\n{END}"
    assert results.read_text() == once.replace(f"{begin}\nrun 1\n{END}", run_2)


def test_a_section_without_a_block_is_taken_as_wholly_generated(results: Path) -> None:
    replace_generated(results, "Churn against", "bench/churn_peers.py", "run 1")
    replace_generated(results, "Churn against", "bench/churn_peers.py", "run 2")

    begin = begin_marker("bench/churn_peers.py")
    churn = "## Churn against its peers (`bench/churn_peers.py`)\n\n"
    old = f"{churn}old churn\n\n### telco\n\nold telco table\n"
    assert results.read_text() == DOC.replace(old, f"{churn}{begin}\nrun 2\n{END}\n")


def test_another_scripts_block_in_another_section_is_left_alone(results: Path) -> None:
    replace_generated(results, "Churn against", "bench/churn_peers.py", "churn run")
    replace_generated(results, "Lifecycle against", "bench/lifecycle_peers.py", "lifecycle run")
    replace_generated(results, "Lifecycle against", "bench/lifecycle_peers.py", "lifecycle run 2")

    text = results.read_text()
    assert f"{begin_marker('bench/churn_peers.py')}\nchurn run\n{END}" in text
    assert text.endswith(f"{begin_marker('bench/lifecycle_peers.py')}\nlifecycle run 2\n{END}\n")


def test_a_heading_inside_fenced_code_does_not_end_a_section(tmp_path: Path) -> None:
    path = tmp_path / "r.md"
    path.write_text("## A\n\n```\n## not a heading\n```\n\nold\n\n## B\n\nb\n")

    replace_section(path, "A", "new")

    assert path.read_text() == "## A\n\nnew\n\n## B\n\nb\n"


def test_bad_input_names_what_to_fix(results: Path) -> None:
    two = results.with_name("two.md")
    two.write_text("## La\n\n## Lb\n")
    with pytest.raises(ValueError, match="2 sections start with 'L'"):
        replace_section(two, "L", "x")
    with pytest.raises(ValueError, match="use '### ' inside it"):
        replace_section(results, "Price", "ok\n## Another section\n")
    replace_section(results, "Price", f"{begin_marker('bench/price_peers.py')}\nno end marker\n")
    with pytest.raises(ValueError, match="has no <!-- end generated --> after it"):
        replace_generated(results, "Price", "bench/price_peers.py", "x")
    with pytest.raises(ValueError, match="must not contain its own markers"):
        replace_generated(results, "Price", "bench/price_peers.py", f"x\n{END}")
    assert not list(results.parent.glob(".RESULTS.md.*"))  # no temporary file left behind


def test_markdown_table_escapes_pipes_and_checks_the_width() -> None:
    table = markdown_table(["model", "C"], [["cox", "0.8650"], ["a|b", 1]])

    assert table == "| model | C |\n|---|---|\n| cox | 0.8650 |\n| a\\|b | 1 |"
    with pytest.raises(ValueError, match="2 columns"):
        markdown_table(["model", "C"], [["only one"]])
