"""Progress shows on a terminal, never under --json or in a pipe, and never changes what a step returns."""

import pytest

from cxml import progress
from cxml.data.synthetic import generate_company
from cxml.evaluation.bootstrap import bootstrap_interval
from cxml.features.build import build_features

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _restore():
    yield
    progress.quiet(False)


def test_forced_on_a_bar_and_a_timed_step_go_to_stderr(monkeypatch, capsys):
    monkeypatch.setenv("CXML_PROGRESS", "1")
    assert list(progress.bar(range(5), "counting", 5)) == [0, 1, 2, 3, 4]
    with progress.step("a long step"):
        pass
    out, err = capsys.readouterr()
    assert out == ""
    assert "counting" in err and "a long step…" in err and "a long step: done in" in err


def test_quiet_in_a_pipe_and_when_forced_off(monkeypatch, capsys):
    monkeypatch.delenv("CXML_PROGRESS", raising=False)
    assert not progress.enabled()  # pytest captures stderr: not a terminal
    monkeypatch.setenv("CXML_PROGRESS", "0")
    assert list(progress.bar(iter("ab"), "letters")) == ["a", "b"]
    with progress.step("silent"):
        pass
    assert capsys.readouterr() == ("", "")


def test_json_silences_progress_even_on_a_terminal(monkeypatch):
    monkeypatch.delenv("CXML_PROGRESS", raising=False)
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    assert progress.enabled()
    progress.quiet()
    assert not progress.enabled()


def test_long_steps_report_progress_and_return_the_same(monkeypatch, capsys):
    """The feature build and the bootstrap say what they do, and give the same answer as without progress."""
    tables = dict(generate_company(300, seed=3).tables)
    as_of = "2025-10-01"
    monkeypatch.setenv("CXML_PROGRESS", "0")
    quiet_features = build_features(tables, as_of, threads=1)
    quiet_interval = bootstrap_interval(50, lambda idx: float(idx.mean()), n_boot=20)
    monkeypatch.setenv("CXML_PROGRESS", "1")
    loud_features = build_features(tables, as_of, threads=1)
    loud_interval = bootstrap_interval(50, lambda idx: float(idx.mean()), n_boot=20)
    err = capsys.readouterr().err
    assert "features as of 2025-10-01 (DuckDB): done in" in err and "bootstrap" in err
    assert loud_features.equals(quiet_features) and loud_interval == quiet_interval
