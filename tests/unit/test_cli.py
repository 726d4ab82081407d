"""What a new user meets on the command line: a missing data folder is one clear error line naming what to run
(never a traceback), every help text keeps its defaults, and ``cxml --version`` answers.
(``build``/``serve``/``promote`` in an empty workspace: ``tests/integration/test_cli_first_run.py``.)"""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cxml.cli import _version, app

pytestmark = pytest.mark.unit

WIDE = {"COLUMNS": "200", "TERM": "dumb"}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_validate_a_missing_folder_names_it_and_the_command_that_makes_one(runner, tmp_path):
    missing = tmp_path / "nonexistent"
    result = runner.invoke(app, ["validate", "--data", str(missing)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"no folder of contract tables at {missing}" in result.output
    assert f"cxml generate --out {missing}" in result.output


def test_validate_a_folder_without_the_tables_names_the_missing_table(runner, tmp_path):
    result = runner.invoke(app, ["validate", "--data", str(tmp_path)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "customers.*: missing table: no customers.parquet or customers.csv" in result.output
    assert "required tables: customers" in result.output and "Traceback" not in result.output


def _commands() -> dict[str, Any]:
    """Every subcommand (typer ships its own click: duck-typed, not ``click.Group``)."""
    return dict(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def _help_texts(command: Any) -> list[str]:
    return [getattr(p, "help", None) or "" for p in command.params]


def _defaults_in_source() -> list[str]:
    """Every ``(default: …)`` written in a help text of the command line."""
    texts = _help_texts(typer.main.get_command(app))
    for command in _commands().values():
        texts += _help_texts(command)
    return sorted({m for text in texts for m in re.findall(r"\(default: [^)]*\)", text)})


def test_no_help_text_has_square_brackets_that_rich_would_eat():
    for name, command in _commands().items():
        for text in [*_help_texts(command), command.help or ""]:
            assert "[" not in text, f"cxml {name}: {text!r}"


def test_every_help_renders_its_defaults_and_is_not_empty(runner):
    defaults = _defaults_in_source()
    assert len(defaults) >= 10, defaults
    rendered = ""
    for argv in [[], *([name] for name in _commands())]:
        result = runner.invoke(app, [*argv, "--help"], env=WIDE, terminal_width=200)
        assert result.exit_code == 0, (argv, result.output)
        assert "Usage:" in result.output and "--help" in result.output, argv
        described = re.sub(r"\s+", " ", result.output)
        command = _commands().get(argv[0]) if argv else None
        if command is not None:
            assert (command.help or "").strip(), f"cxml {argv[0]} has no help"
            first = (command.help or "").strip().splitlines()[0][:40]
            assert first in described, (argv, first)
        rendered += re.sub(r"[│╭╮╰╯─]", " ", result.output)
    flat = re.sub(r"\s+", " ", rendered)
    for default in defaults:
        assert re.sub(r"\s+", " ", default) in flat, default


def test_version_prints_the_package_version(runner):
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"cxml {_version()}"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", _version())


def test_version_from_a_checkout_without_metadata(monkeypatch):
    import importlib.metadata

    import cxml

    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert _version() == cxml.__version__
