"""The server's processes live and die as one: ``cxml serve`` → ``bentoml serve`` (BentoML's circus arbiter) → its
workers, each in a session of its own.

A ``kill -9`` of ``cxml serve`` used to leave the arbiter running, and one of the arbiter a worker holding the
listening socket, so the next ``cxml serve`` failed with "Address already in use" (#17). Linux's parent-death
signal (``prctl(PR_SET_PDEATHSIG)``) closes both gaps: the arbiter gets SIGTERM when ``cxml serve`` dies (it then
stops its workers), each worker gets SIGTERM when the arbiter dies. Elsewhere than Linux nothing is set.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from types import FrameType

import bentoml
import psutil

from cxml.serving.head_timeout import install_head_timeout

PR_SET_PDEATHSIG = 1
SERVER_PID = "CXML_SERVER_PID"
"""The arbiter's PID, set where the service module is loaded outside a worker and inherited by its workers: a
worker whose parent is no longer that process started after the arbiter died and must not serve."""
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _prctl() -> Callable[..., int] | None:
    return ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _die_with(parent: int, prctl: Callable[..., int] | None) -> None:
    """SIGTERM to this process when ``parent`` exits; exit now if it already has (before the request was made)."""
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os._exit(1)


def guard_worker(head_timeout: float) -> None:
    """Where the service module loads: in the arbiter (or a build, a test) record this PID for the workers; in a
    BentoML worker, die with the arbiter and give clients ``head_timeout`` seconds to send each request head."""
    if bentoml.server_context.worker_index is None:
        os.environ[SERVER_PID] = str(os.getpid())
        return
    _die_with(int(os.environ.get(SERVER_PID, os.getppid())), _prctl())
    install_head_timeout(head_timeout)


def run_server(command: list[str], env: dict[str, str]) -> int:
    """Run ``command`` (``bentoml serve``) until it exits and return its exit status. SIGTERM or SIGINT (Ctrl-C) stop it
    gracefully (the arbiter stops its workers), a second one kills it (the workers follow their arbiter); if this
    process dies, even by ``kill -9``, the kernel sends the server SIGTERM."""
    parent, prctl = os.getpid(), _prctl()  # prepared before the fork: the child only calls
    server = subprocess.Popen(  # its own session: a terminal's Ctrl-C reaches this process only, which passes it on
        command, env=env, start_new_session=True, preexec_fn=lambda: _die_with(parent, prctl)
    )
    stops = 0

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stops
        stops += 1
        server.send_signal(signal.SIGTERM if stops == 1 else signal.SIGKILL)

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        code = server.wait()
        return 128 - code if code < 0 else code  # killed by signal n: the shell's 128 + n
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def port_taken(host: str, port: int) -> str | None:
    """None when ``host:port`` can be listened on (as BentoML will: ``SO_REUSEADDR``); otherwise one sentence naming
    the process holding it and what to do."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return None  # BentoML reports any other error itself
        else:
            return None
    holder = _listener(port)
    if holder is None:
        return f"port {port} on {host} is taken by another user's process: serve on another --port"
    pid, command = holder
    return f"port {port} on {host} is taken by PID {pid} ({command}): stop it with `kill {pid}` or use another --port"


def _listener(port: int) -> tuple[int, str] | None:
    """The process listening on ``port`` that started any others listening on it (a server's arbiter rather than its
    worker: ``kill`` of the arbiter stops both), and its command line; None when only another user's holds it."""
    pids = sorted(
        c.pid
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid is not None
    )
    try:
        process = psutil.Process(pids[0]) if pids else None
        while process is not None and (parent := process.parent()) is not None and _listens(parent, port):
            process = parent
        return None if process is None else (process.pid, (" ".join(process.cmdline()) or process.name())[:160])
    except psutil.Error:  # it exited meanwhile
        return None


def _listens(process: psutil.Process, port: int) -> bool:
    try:
        return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in process.net_connections("tcp"))
    except psutil.Error:
        return False
