"""cxml's HTML pages from Jinja2 templates (package data in ``cxml/templates``), one stylesheet for all of them.

Every page extends ``base.html``, which inlines ``cxml.css`` into a ``<style>`` element at render time: a page is
one self-contained file that opens offline (no ``<link>``, no script, no URL outside the page), and every page
looks the same. Autoescaping is on, so a value is escaped unless it is ``markupsafe.Markup`` (an SVG figure,
say). Templates use single-quoted attributes, which the autoescape keeps safe (it escapes ``'`` too).

Every template can use the filter ``num(fmt)``: a number formatted with ``fmt``, ``"–"`` for None/NaN/inf.

**Adding a page** (the campaign readout, for instance): write ``cxml/templates/<page>.html`` as

```jinja
{% extends "base.html" %}
{% from "macros.html" import table, figure %}
{% block title %}Campaign readout{% endblock %}
{% block content %}<h1>…</h1><section><h2>…</h2>{{ table(header, rows) }}</section>{% endblock %}
```

and render it with ``render("<page>.html", **numbers)``. ``macros.html`` has ``table(header, rows, classes,
numeric)`` for a plain table of preformatted cells (``numeric``: the column positions to right-align) and
``figure(uri, alt)`` for an embedded ``data:`` image. A page whose template lives outside the package can pass its
source to ``render_string`` and still extend ``base.html``. The stylesheet's classes (``num``, ``muted``,
``figs``, ``blocks``/``block``, ``flag``, ``passed``/``refused``, ``grade grade-A`` …) are listed at its top.
"""

from __future__ import annotations

import math
import numbers
from functools import cache
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

TEMPLATES = "templates"
STYLESHEET = "cxml.css"


def num(value: Any, fmt: str = ".4f") -> str:
    """``value`` formatted with ``fmt``; ``"–"`` when there is no finite number to show."""
    if value is None:
        return "–"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return "–"
    integral = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    return format(int(value) if integral else number, fmt)


@cache
def stylesheet() -> str:
    """The one stylesheet of every page (read once from the package)."""
    return files("cxml").joinpath(TEMPLATES, STYLESHEET).read_text(encoding="utf-8")


@cache
def environment() -> Environment:
    """The templates of ``cxml/templates``, autoescaped, failing loudly on a name the page was not given."""
    env = Environment(
        loader=PackageLoader("cxml", TEMPLATES),
        autoescape=select_autoescape(["html", "svg"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = num
    env.globals["stylesheet"] = Markup(stylesheet())
    return env


def render(template: str, **context: Any) -> str:
    """One page (or fragment) from a template of the package."""
    return environment().get_template(template).render(**context)


def render_string(source: str, **context: Any) -> str:
    """A page from template source held elsewhere; it may extend ``base.html`` and use the macros."""
    return environment().from_string(source).render(**context)


def macro(template: str, name: str, **arguments: Any) -> Markup:
    """One macro of a template, called with keyword arguments (e.g. an SVG figure drawn on its own)."""
    return Markup(getattr(environment().get_template(template).module, name)(**arguments))
