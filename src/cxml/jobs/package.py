"""The files a Bento is built from: cxml as a wheel, the bentofile and the runtime lock.

From a source checkout they come from the checkout (the wheel is built with uv, else pip). From an installed cxml
(a wheel from an index) there is no checkout: the build files are package data (``cxml/_bento``, put there by
setup.py) and the wheel is packed again from the installed files listed in the distribution's RECORD, so the
Bento serves exactly the cxml that built it.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata, resources
from pathlib import Path

import cxml

BENTO_FILES = ("bentofile.yaml", "requirements.lock")
# Written by the installer, not part of the wheel; RECORD is written again for the new archive.
_INSTALLER_FILES = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json", "uv_cache.json", "uv_build.json"}


class PackagingError(RuntimeError):
    """cxml could not be packed as a wheel: the message says what to install or run."""


def checkout_root() -> Path | None:
    """The source checkout cxml is imported from (``<root>/src/cxml``), or None when cxml is installed."""
    root = Path(cxml.__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "src" / "cxml" / "__init__.py").is_file():
        return root
    return None


def copy_build_files(target: Path) -> None:
    """Copy ``bentofile.yaml`` and ``requirements.lock`` into ``target``: the checkout's, else the package's."""
    root = checkout_root()
    shipped = resources.files("cxml").joinpath("_bento")
    for name in BENTO_FILES:
        if root is not None:
            shutil.copy(root / name, target / name)
        elif shipped.joinpath(name).is_file():
            (target / name).write_bytes(shipped.joinpath(name).read_bytes())
        else:
            raise PackagingError(
                f"this cxml has no {name}: it is neither a checkout nor installed from a cxml wheel; "
                "install cxml from its wheel (pip install cxml-*.whl) or run from a clone of the repository"
            )


def stage_wheel(out_dir: Path) -> Path:
    """A wheel of the cxml that is running, in ``out_dir``: built from the checkout, else packed again from the
    installed distribution."""
    out_dir.mkdir(parents=True, exist_ok=True)
    root = checkout_root()
    return build_wheel(root, out_dir) if root is not None else repack_installed(out_dir)


def _build_command(root: Path, out_dir: Path) -> list[str]:
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv", "build", "--wheel", "--out-dir", str(out_dir), str(root)]
    if uv := shutil.which("uv"):
        return [uv, "build", "--wheel", "--out-dir", str(out_dir), str(root)]
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(out_dir), str(root)]
    raise PackagingError("building cxml's wheel needs uv or pip in this environment: pip install uv")


def build_wheel(root: Path, out_dir: Path) -> Path:
    """``uv build --wheel`` (or ``pip wheel``) of the checkout at ``root`` into ``out_dir``."""
    out = subprocess.run(_build_command(root, out_dir), capture_output=True, text=True, check=False)
    wheels = sorted(out_dir.glob("cxml-*.whl"))
    if out.returncode != 0 or not wheels:
        raise PackagingError(f"building cxml's wheel from {root} failed:\n{out.stderr[-3000:]}")
    return wheels[-1]


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def repack_installed(out_dir: Path) -> Path:
    """Pack the installed cxml (its package files and metadata, as RECORD lists them) into a wheel again."""
    try:
        dist = metadata.distribution("cxml")
    except metadata.PackageNotFoundError as exc:
        raise PackagingError("cxml is neither a checkout nor an installed distribution: pip install cxml") from exc
    info_dir = f"{dist.metadata['Name']}-{dist.version}.dist-info"
    files = [
        f
        for f in dist.files or []
        if f.parts[0] in {"cxml", info_dir}
        and "__pycache__" not in f.parts
        and f.suffix != ".pyc"
        and f.name not in _INSTALLER_FILES
    ]
    if not any(f.parts[0] == "cxml" for f in files):
        raise PackagingError(
            "the installed cxml lists no package files (an editable install of a checkout that has moved?): "
            "reinstall it (pip install cxml-*.whl) or run from the checkout"
        )
    wheel_lines = (dist.read_text("WHEEL") or "").splitlines()
    tag = next((line.split(":", 1)[1].strip() for line in wheel_lines if line.startswith("Tag:")), "py3-none-any")
    wheel = out_dir / f"cxml-{dist.version}-{tag}.whl"
    records = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for f in sorted(files, key=lambda f: (f.parts[0] == info_dir, str(f))):  # metadata last, as wheels do
            data = Path(str(dist.locate_file(f))).read_bytes()
            archive.writestr(f.as_posix(), data)
            records.append(_record_line(f.as_posix(), data))
        records.append(f"{info_dir}/RECORD,,")
        archive.writestr(f"{info_dir}/RECORD", "\n".join(records) + "\n")
    return wheel
