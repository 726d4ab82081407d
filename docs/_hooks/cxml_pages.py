"""MkDocs hook: the pages that must never drift from the code are rendered from it at build time.

A page writes a marker on a line of its own and the hook replaces it:

- ``<!-- cxml:contract -->``: every contract table (``cxml.data.contract.SCHEMAS``), its columns, kinds and rules;
- ``<!-- cxml:cli -->``: every ``cxml`` command and option, read from the Typer app itself (so no flag in the
  docs can be invented or go stale);
- ``<!-- cxml:routes -->``: the HTTP routes the served-family registry generates (``cxml.serving.families``);
- ``<!-- cxml:modules cxml.models -->``: one mkdocstrings ``::: module`` block per module of the package, found on
  disk, so a module added tomorrow is in the API reference without anyone editing a page.

``mkdocs build --strict`` fails on a marker it does not know, so a typo cannot ship an empty section.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[2] / "src"
MARKER = re.compile(r"^<!-- cxml:([a-z_]+)(?: ([a-z_.]+))? -->$", flags=re.MULTILINE)


def _ensure_importable() -> None:
    """Build from a checkout without installing it (the reference pages read ``src/`` the same way)."""
    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def contract_tables() -> str:
    from cxml.data.contract import SCHEMAS

    out: list[str] = []
    for schema in SCHEMAS.values():
        out.append(f"### `{schema.name}`" + ("" if schema.required else " (optional)"))
        facts = []
        if schema.key:
            facts.append("key " + ", ".join(f"`{k}`" for k in schema.key))
        if schema.time_columns:
            facts.append("never in the future: " + ", ".join(f"`{k}`" for k in schema.time_columns))
        if schema.foreign_keys:
            facts.append(
                "references " + ", ".join(f"`{f.column}` → `{f.table}.{f.ref_column}`" for f in schema.foreign_keys)
            )
        if schema.min_rows:
            facts.append(f"at least {schema.min_rows} row")
        out += ["", "; ".join(facts) + ".", "", "| column | kind | may be null | rule |", "|---|---|---|---|"]
        for col in schema.columns:
            rules = []
            if col.allowed:
                rules.append("one of " + ", ".join(f"`{a}`" for a in sorted(col.allowed)))
            if col.min_value is not None:
                rules.append(f"≥ {col.min_value:g}")
            out.append(f"| `{col.name}` | {col.kind} | {'yes' if col.nullable else 'no'} | {'; '.join(rules)} |")
        out.append("")
    return "\n".join(out)


def _commands(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        if not getattr(sub, "hidden", False):
            yield from _commands(sub, [*path, name])


def _option_row(param: Any) -> str:
    if (
        getattr(param, "param_type_name", "") == "argument"
        or not getattr(param, "opts", None)
        or (param.opts[0][:1] != "-")
    ):
        name = f"`{param.name.upper()}`"
    else:
        name = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
    help_text = getattr(param, "help", None) or ""
    notes = []
    if param.required:
        notes.append("required")
    if getattr(param, "multiple", False):
        notes.append("repeatable")
    default = param.default
    if (
        not param.required
        and not getattr(param, "is_flag", False)
        and default not in (None, (), [], "")
        and not callable(default)
    ):
        notes.append(f"default `{default}`")
    if getattr(param, "envvar", None):
        notes.append(f"env `{param.envvar}`")
    suffix = f" ({', '.join(notes)})" if notes else ""
    return f"| {name} | {_cell(help_text + suffix)} |"


def cli_reference() -> str:
    import typer

    from cxml.cli import app

    root = typer.main.get_command(app)
    out: list[str] = []
    for path, command in _commands(root, []):
        title = " ".join(["cxml", *path])
        out += [f"### `{title}`", "", _cell(command.help or ""), ""]
        params = [p for p in command.params if not getattr(p, "hidden", False) and p.name != "help"]
        if params:
            out += ["| option | what it does |", "|---|---|", *(_option_row(p) for p in params), ""]
    return "\n".join(out)


def http_routes() -> str:
    """One row per route; the request and response models link to their API reference entries (autorefs, so
    ``--strict`` fails if one is not documented)."""
    from cxml.serving.families import BUILTIN

    def ref(model: type) -> str:
        return f"[`{model.__name__}`][{model.__module__}.{model.__qualname__}]"

    out = ["| route | request → response | what it answers |", "|---|---|---|"]
    for served in BUILTIN:
        for route in served.routes:
            out.append(f"| `POST {route.path}` | {ref(route.request)} → {ref(route.response)} | {_cell(route.doc)} |")
    return "\n".join(out)


def _has_docstring(path: Path) -> bool:
    return ast.get_docstring(ast.parse(path.read_text())) is not None


def package_modules(package: str) -> list[tuple[str, bool]]:
    """Every public module of a package as (name, is a package), private ones left out, the package itself first.

    A package's ``__init__`` only imports (none defines a function or class), so it is shown by its docstring
    alone, and not at all when it has none: its re-exports are documented where they are defined.
    """
    root = SRC.joinpath(*package.split("."))
    if not (root / "__init__.py").exists():
        raise ValueError(f"cxml:modules {package}: no package at {root}")
    found = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        if any(part.startswith("_") for part in parts if part != "__init__"):
            continue
        is_package = parts[-1] == "__init__"
        if is_package and not _has_docstring(path):
            continue
        found.append((".".join(parts[:-1] if is_package else parts), is_package))
    return sorted(found, key=lambda item: (item[0] != package, item[0]))


def module_blocks(package: str | None) -> str:
    if not package:
        raise ValueError("cxml:modules needs a package, e.g. <!-- cxml:modules cxml.models -->")
    return "\n\n".join(
        f"::: {name}\n    options:\n      members: false" if is_package else f"::: {name}"
        for name, is_package in package_modules(package)
    )


RENDERERS: dict[str, Callable[..., str]] = {
    "contract": contract_tables,
    "cli": cli_reference,
    "routes": http_routes,
    "modules": module_blocks,
}
TAKES_ARGUMENT = {"modules"}


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    """Replace each marker by what the code says today."""

    def render(match: re.Match[str]) -> str:
        name, argument = match.group(1), match.group(2)
        if name not in RENDERERS:
            raise ValueError(f"{page.file.src_path}: unknown marker cxml:{name} (known: {', '.join(RENDERERS)})")
        if name in TAKES_ARGUMENT:
            return RENDERERS[name](argument)
        if argument:
            raise ValueError(f"{page.file.src_path}: cxml:{name} takes no argument (got {argument!r})")
        _ensure_importable()
        return RENDERERS[name]()

    return MARKER.sub(render, markdown)
