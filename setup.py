"""The build hook that lets an installed cxml build its own Bento: the Bento's build files (``bentofile.yaml``
and the runtime ``requirements.lock``, kept at the project root where BentoML and uv expect them) are copied into
the wheel under ``cxml/_bento/``. ``cxml.jobs.package`` reads them there when there is no checkout.
Everything else about the package is declared in pyproject.toml."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BENTO_FILES = ("bentofile.yaml", "requirements.lock")


class BuildWithBentoFiles(build_py):
    """``build_py`` plus the Bento's build files as package data of ``cxml``."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "cxml" / "_bento"
        target.mkdir(parents=True, exist_ok=True)
        for name in BENTO_FILES:
            self.copy_file(name, str(target / name))


setup(cmdclass={"build_py": BuildWithBentoFiles})
