"""A throw-away PostgreSQL cluster for the tests: ``initdb`` + ``pg_ctl`` in a temporary folder on 127.0.0.1.

One cluster per test process (a module-scoped user shares it through the session fixture); each test asks for
its own database with ``postgres.database(name)``. Run as root (CI containers), the server runs as the
unprivileged ``postgres`` user that Debian's package creates. Skips with the command to install it when the
binaries are missing. Trust authentication on 127.0.0.1 only: nothing listens beyond the machine.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

USER = "cxml"


def pg_bin() -> Path | None:
    """The folder of ``initdb``/``pg_ctl``: on PATH, else Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Postgres:
    bin: Path
    port: int
    as_user: tuple[str, ...]

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}"

    def database(self, name: str) -> str:
        """Create a fresh database and return its SQLAlchemy URL (``postgresql://cxml@127.0.0.1:PORT/name``)."""
        self.run("dropdb", "--if-exists", name)
        self.run("createdb", name)
        return f"{self.url}/{name}"

    def run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [*self.as_user, str(self.bin / tool), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, *args]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    bin_dir = pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed: apt-get install postgresql (initdb and pg_ctl are needed)")
    root = Path(tempfile.mkdtemp(prefix="cxml-pg-", dir="/tmp"))  # /tmp: the server user must reach it
    as_user: tuple[str, ...] = ()
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(root, "postgres", "postgres")
        as_user = ("runuser", "-u", "postgres", "--")
    data, log = root / "data", root / "server.log"
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    subprocess.run(
        [*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True, capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    port = _free_port()
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(
        [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "60", "start"],
        check=True, capture_output=True, text=True, env=env, timeout=90,
    )  # fmt: skip
    server = Postgres(bin_dir, port, as_user)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                server.run("psql", "-d", "postgres", "-c", "select 1")
                break
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield server
    finally:
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True, env=env, timeout=60,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)
