"""Fresh virtual environments for the packaging tests: cxml installed as a user (or a Bento) installs it, from the
wheel and the hashed runtime lock, with nothing of the checkout on the path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

UV = [sys.executable, "-m", "uv"]


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``; on failure, fail with the command's own error output."""
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    assert out.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return out


def fresh_venv(path: Path) -> Path:
    """An empty virtual environment of this interpreter's Python at ``path``; its ``python``."""
    run([*UV, "venv", "--quiet", "--python", sys.executable, str(path)])
    return path / "bin" / "python"


def install_locked(python: Path, lock: Path, wheel: Path) -> None:
    """The lock (every file checked against its hash), then the wheel with no dependency of its own resolved:
    ``uv pip check`` then proves the lock alone satisfies everything the wheel declares."""
    run([*UV, "pip", "install", "--quiet", "--python", str(python), "--require-hashes", "-r", str(lock)])
    run([*UV, "pip", "install", "--quiet", "--python", str(python), "--no-deps", str(wheel)])
    run([*UV, "pip", "check", "--python", str(python)])


def outside_env(venv: Path, **extra: str) -> dict[str, str]:
    """This process's environment without the checkout on the path, with ``venv`` first on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return {**env, "BENTOML_DO_NOT_TRACK": "true", **extra}


def installed(python: Path) -> set[str]:
    """The normalised names of the distributions installed in ``python``'s environment."""
    out = run([*UV, "pip", "freeze", "--python", str(python)])
    return {line.split("==")[0].split(" @ ")[0].lower().replace("_", "-") for line in out.stdout.splitlines() if line}
