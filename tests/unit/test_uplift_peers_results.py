"""``bench/uplift_peers.py --results`` rewrites its own generated subsection of RESULTS.md and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.uplift_peers import RUN_HEADING, SECTION, replace_subsection

pytestmark = pytest.mark.unit

OTHER = "## Churn\n\nchurn text\n"
HISTORY = "### Issue #18\n\nhand-written\n"


def test_the_run_goes_under_the_section_and_keeps_the_hand_written_subsections(tmp_path: Path):
    path = tmp_path / "RESULTS.md"
    path.write_text(f"# Results\n\n{OTHER}\n{SECTION}\n\nintro\n\n{HISTORY}\n## Price\n\nprice text\n")
    replace_subsection(path, SECTION, RUN_HEADING, "first run")
    replace_subsection(path, SECTION, RUN_HEADING, "second run\n\n| a |")
    text = path.read_text()
    assert text.count(RUN_HEADING) == 1 and "first run" not in text
    assert text.index("intro") < text.index("second run\n\n| a |") < text.index("hand-written") < text.index("price")
    assert text.startswith(f"# Results\n\n{OTHER}") and text.endswith("## Price\n\nprice text\n")


def test_a_missing_section_is_appended(tmp_path: Path):
    path = tmp_path / "RESULTS.md"
    path.write_text(f"# Results\n\n{OTHER}")
    replace_subsection(path, SECTION, RUN_HEADING, "run")
    assert path.read_text() == f"# Results\n\n{OTHER}\n{SECTION}\n\n{RUN_HEADING}\n\nrun\n"
