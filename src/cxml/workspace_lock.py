"""Advisory file locks that make a shared workspace safe: one training at a time, and the registry's
read-decide-write of its aliases (promote, roll back, the gate) one at a time.

A lock is ``fcntl.flock`` on a file, so the kernel releases it when its holder dies (even by ``kill -9``): a
killed run never leaves a workspace locked. The holder writes who it is into the file, so a waiter can say whom
it waits for. Locks taken on separate ``open`` calls exclude each other between threads of one process too.
Standard library only: any floor may use it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


class WorkspaceBusy(TimeoutError):
    """The lock stayed held by another process (or thread) for longer than the caller would wait."""


def holder(path: Path) -> dict[str, object] | None:
    """Who holds (or last held) the lock at ``path``, as it wrote itself down; None when unknown."""
    try:
        found = json.loads(path.read_text() or "null")
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def describe(info: dict[str, object] | None) -> str:
    """``pid 123 on host, since 12:00:01: cxml train churn`` (or ``another process`` when it did not say)."""
    if not info:
        return "another process"
    since = time.strftime("%H:%M:%S", time.localtime(float(str(info.get("since", 0)))))
    what = f": {info['what']}" if info.get("what") else ""
    return f"pid {info.get('pid')} on {info.get('host')}, since {since}{what}"


@contextmanager
def hold(
    path: Path,
    *,
    what: str,
    timeout: float | None,
    on_wait: Callable[[dict[str, object] | None], None] | None = None,
    poll: float = 0.05,
) -> Iterator[None]:
    """Hold the exclusive lock at ``path`` for the block.

    When another holder has it, ``on_wait`` is called once (with what that holder wrote down) and the call waits
    up to ``timeout`` seconds (None: for ever; 0: not at all), then raises :class:`WorkspaceBusy`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    acquired = False
    try:
        acquired = _try_lock(fd)
        if not acquired:
            other = holder(path)
            if on_wait is not None:
                on_wait(other)
            started = time.monotonic()
            deadline = None if timeout is None else started + timeout
            while not acquired:
                if deadline is not None and time.monotonic() >= deadline:
                    waited = f" after waiting {timeout:g} s" if timeout else ""
                    held = f"{what} needs {path.name}, held by {describe(other)}"
                    raise WorkspaceBusy(f"{path.parent} is busy{waited}: {held}")
                time.sleep(poll)
                acquired = _try_lock(fd)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "what": what}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        yield
    finally:
        if acquired:
            os.ftruncate(fd, 0)  # no stale holder once released (the kernel drops the lock on close)
        os.close(fd)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def command_line() -> str:
    """What this process is, for a waiter's message: ``cxml train churn --table t.csv`` or the script name."""
    args = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else ["python"]
    return " ".join(args)[:200]


def pid_alive(pid: int) -> bool:
    """Whether a process of this host runs under ``pid`` (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")
