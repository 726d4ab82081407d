"""Progress for long steps: a bar where there is a count, a timed line where there is not.

Progress goes to stderr, only when stderr is a terminal, and never under ``--json`` (the CLI calls
``quiet()``), so scripts and logs see nothing extra. ``CXML_PROGRESS=1`` forces it on (e.g. to watch a job in
a CI log), ``CXML_PROGRESS=0`` off. Lowest floor: any module may import it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
_QUIET = {"on": False}


def quiet(on: bool = True) -> None:
    """Silence (or restore) progress for the rest of the process: ``--json`` output stays one clean line."""
    _QUIET["on"] = on


def enabled() -> bool:
    """Whether progress is shown: forced by ``CXML_PROGRESS``, else off when quiet or stderr is not a terminal."""
    forced = os.environ.get("CXML_PROGRESS", "").strip()
    if forced in {"0", "1"}:
        return forced == "1"
    return not _QUIET["on"] and sys.stderr.isatty()


def bar(items: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """``items`` with a tqdm bar on stderr when progress is shown, else ``items`` untouched."""
    if not enabled():
        yield from items
        return
    from tqdm.auto import tqdm  # tqdm's import is cheap, but only worth paying when a bar is drawn

    yield from tqdm(items, desc=desc, total=total, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)


@contextmanager
def step(desc: str) -> Iterator[None]:
    """One long step without a count: ``desc…`` when it starts and ``desc: done in 3.2s`` when it ends."""
    if not enabled():
        yield
        return
    t0 = time.perf_counter()
    print(f"  {desc}…", file=sys.stderr, flush=True)
    yield
    print(f"  {desc}: done in {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
