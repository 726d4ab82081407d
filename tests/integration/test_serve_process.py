"""``cxml serve`` as a process tree (``cxml serve`` → ``bentoml serve`` arbiter → a worker in its own session), run
as a user would on a trained workspace: a stalled request head gets 408 while others are served, keep-alive still
works, a taken port is named with its holder, SIGTERM stops the whole tree, and ``kill -9`` of ``cxml serve`` or of
its arbiter never leaves a worker on the port (#17). Three server starts in all: the stopping tests come last."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from cxml.data.synthetic import write_company
from tests.conftest import ROOT, run_cli, xgboost_pipeline
from tests.integration.serving_fixtures import free_port

pytestmark = pytest.mark.integration
HEAD_TIMEOUT_S = 2.0
GONE_WITHIN_S = 10.0


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def tree(self) -> list[psutil.Process]:
        """The arbiter and its workers (``cxml serve``'s descendants)."""
        return psutil.Process(self.proc.pid).children(recursive=True)

    def arbiter(self) -> psutil.Process:
        (child,) = psutil.Process(self.proc.pid).children()
        return child


def _cxml_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(
        CXML_HOME=str(home),
        BENTOML_DO_NOT_TRACK="true",
        PYTHONPATH=str(ROOT / "src"),
        CXML_WORKERS="1",
        CXML_READ_TIMEOUT_S=str(HEAD_TIMEOUT_S),
    )
    return env


def _serve_command(home: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "cxml.cli", "serve", "--home", str(home), "--port", str(port)]


def _start(home: Path, port: int) -> Server:
    """``cxml serve`` on ``port``, ready (``/readyz`` answers 200)."""
    log = home / f"serve-{port}-{time.monotonic_ns()}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(_serve_command(home, port), cwd=ROOT, env=_cxml_env(home), stdout=out, stderr=out)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"cxml serve exited with {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                return Server(proc, port, log)
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    _kill(proc, [])
    raise TimeoutError(f"cxml serve not ready: {log.read_text()[-3000:]}")


def _kill(proc: subprocess.Popen[bytes], tree: list[psutil.Process]) -> None:
    """Whatever a failed test left running: the test's own processes, by PID."""
    for process in [psutil.Process(proc.pid), *tree] if proc.poll() is None else tree:
        with contextlib.suppress(psutil.Error):
            process.kill()
    proc.wait(timeout=30)


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _listening(port: int) -> bool:
    connections = psutil.net_connections(kind="tcp")
    return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in connections)


def _seconds_until_gone(processes: list[psutil.Process], port: int) -> float:
    """Seconds until none of ``processes`` runs and nothing listens on ``port``; fails after GONE_WITHIN_S."""
    start = time.monotonic()
    while time.monotonic() - start < GONE_WITHIN_S:
        if not any(_alive(p) for p in processes) and not _listening(port):
            return time.monotonic() - start
        time.sleep(0.1)
    left = [" ".join(p.cmdline())[:100] for p in processes if _alive(p)]
    raise AssertionError(f"after {GONE_WITHIN_S} s still running: {left}; port {port} listening: {_listening(port)}")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smallest workspace ``cxml serve`` serves: 300 simulated customers and a churn champion (one trial)."""
    home = tmp_path_factory.mktemp("serve-process") / "ws"
    write_company(home / "data" / "company", 300, seed=0)
    fast = xgboost_pipeline(home.parent)
    proc, _ = run_cli(
        "train", "churn", "--trials", "1", "--pipeline", str(fast), "--home", str(home), home=home, timeout=600
    )
    assert proc.returncode == 0 and "promoted" in proc.stdout, proc.stderr[-2000:]
    return home


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[Server]:
    """One ``cxml serve`` for the tests that talk to it; the last of them stops it."""
    server = _start(home, free_port())
    tree = server.tree()
    yield server
    if server.proc.poll() is None:
        _kill(server.proc, tree)


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends before it closes the connection (a socket timeout fails the test)."""
    chunks = []
    while chunk := sock.recv(4096):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_stalled_request_head_gets_408_while_others_are_served(server: Server) -> None:
    readyz = f"http://127.0.0.1:{server.port}/readyz"
    with socket.create_connection(("127.0.0.1", server.port)) as slow:
        start = time.monotonic()
        # slowloris: a header line now and then, never the blank line that ends the head
        for line in (b"GET /readyz HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n", b"X-Slow: 1\r\n"):
            slow.sendall(line)
            assert httpx.get(readyz, timeout=5).status_code == 200
            time.sleep(0.4)
        slow.settimeout(HEAD_TIMEOUT_S + 2)
        answer = _read_until_closed(slow)
        elapsed = time.monotonic() - start
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
    assert b"connection: close" in head.lower()
    assert json.loads(body) == {"error": "the request head did not arrive within 2 s"}
    assert HEAD_TIMEOUT_S - 0.1 <= elapsed <= HEAD_TIMEOUT_S + 2, elapsed


def test_a_connection_that_never_sends_is_closed_without_an_answer(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as idle:
        start = time.monotonic()
        idle.settimeout(HEAD_TIMEOUT_S + 2)
        assert _read_until_closed(idle) == b""
        elapsed = time.monotonic() - start
    assert HEAD_TIMEOUT_S - 0.1 <= elapsed <= HEAD_TIMEOUT_S + 2, elapsed


def test_keep_alive_outlasts_the_head_timeout(server: Server) -> None:
    """Two requests on one connection with a pause longer than the head timeout (uvicorn's keep-alive is 5 s)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/readyz")
        first = conn.getresponse()
        assert first.status == 200 and first.read() is not None
        sock = conn.sock
        time.sleep(HEAD_TIMEOUT_S + 1)
        conn.request("GET", "/info")
        second = conn.getresponse()
        assert second.status == 200 and json.loads(second.read())["service"] == "cxml"
        assert conn.sock is sock  # the same connection: the server did not close it in between
    finally:
        conn.close()


def _serve_on_taken_port(home: Path, port: int) -> subprocess.CompletedProcess[str]:
    command = _serve_command(home, port)
    return subprocess.run(command, cwd=ROOT, env=_cxml_env(home), capture_output=True, text=True, timeout=120)


def test_a_port_held_by_a_server_names_its_arbiter(server: Server, home: Path) -> None:
    proc = _serve_on_taken_port(home, server.port)
    pid = server.arbiter().pid
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert f"port {server.port} on 127.0.0.1 is taken by PID {pid} (" in line and "bentoml serve" in line, line
    assert f"`kill {pid}`" in line and "--port" in line, line


def test_a_port_held_by_any_process_names_it(home: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        proc = _serve_on_taken_port(home, port)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"is taken by PID {os.getpid()} ({' '.join(psutil.Process().cmdline())[:40]}" in proc.stderr


def test_sigterm_stops_the_server_and_its_workers(server: Server) -> None:
    tree = server.tree()
    assert len(tree) == 2, [p.cmdline() for p in tree]  # the arbiter and CXML_WORKERS=1 worker
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=GONE_WITHIN_S) == 0
    _seconds_until_gone(tree, server.port)


def test_kill_9_never_leaves_a_worker_on_the_port(home: Path) -> None:
    """``kill -9`` of ``cxml serve``: its arbiter and worker go and the port frees, so a new ``cxml serve`` starts on
    it; ``kill -9`` of that one's arbiter: its worker goes too and ``cxml serve`` exits."""
    port = free_port()
    first = _start(home, port)
    tree = first.tree()
    try:
        first.proc.kill()
        first.proc.wait()
        _seconds_until_gone(tree, port)
    finally:
        _kill(first.proc, tree)

    second = _start(home, port)
    tree = second.tree()
    try:
        second.arbiter().kill()
        assert second.proc.wait(timeout=GONE_WITHIN_S) == 128 + signal.SIGKILL  # as a shell reports it
        _seconds_until_gone(tree, port)
    finally:
        _kill(second.proc, tree)
