"""A fresh virtual environment for installing packages for real (slow tests only)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

#: The repository checkout (claudette-core and its plugins are installed from here, never from PyPI).
ROOT = Path(__file__).resolve().parents[2]
#: Test tools installed beside the packages under test, and the build backend of every
#: local package (installed once, so local builds can skip pip's per-package build env).
TEST_TOOLS = ("pytest>=8", "pytest-asyncio>=0.24", "hatchling>=1.21")
#: Prints every loaded plugin as JSON: [name, distribution, hooks, error].
PLUGIN_INFOS_SNIPPET = (
    "import json; from claudette import ClaudettePlugins; "
    "print(json.dumps([[i.name, i.distribution, list(i.hooks), i.error] "
    "for i in ClaudettePlugins().plugin_infos()]))"
)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for commands in the venv: no inherited Python path or plugin switches."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CLAUDETTE_", "PYTEST_", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"))
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.update(extra)
    return env


class Venv:
    """A virtual environment created with ``python -m venv`` in ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        bindir = "Scripts" if os.name == "nt" else "bin"
        self.bin = path / bindir
        self.python = self.bin / ("python.exe" if os.name == "nt" else "python")

    def run(
        self, *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run a command of the venv (``python`` or a script in its bin directory)."""
        program = str(args[0])
        exe = self.python if program == "python" else self.bin / program
        return subprocess.run(
            [str(exe), *map(str, args[1:])],
            cwd=cwd,
            env=env or clean_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def install(self, *requirements: str | Path, build_isolation: bool = True) -> None:
        """``pip install`` into the venv (the pip cache is used); fail with pip's output.

        :param build_isolation: False builds local projects with the venv's own hatchling
            (install :data:`TEST_TOOLS` first), which saves a build environment per project.
        """
        flags = ("--quiet",) if build_isolation else ("--quiet", "--no-build-isolation")
        result = self.run("python", "-m", "pip", "install", *flags, *requirements, timeout=600)
        assert result.returncode == 0, f"pip install failed:\n{result.stdout}\n{result.stderr}"

    def plugin_infos(self, **env: str) -> dict[str, tuple[str | None, list[str], str | None]]:
        """name → (distribution, hooks, error) as a fresh ``ClaudettePlugins()`` sees them."""
        result = self.run("python", "-c", PLUGIN_INFOS_SNIPPET, env=clean_env(**env))
        assert result.returncode == 0, result.stderr
        return {name: (dist, hooks, error) for name, dist, hooks, error in json.loads(result.stdout)}

    def pytest(self, project: Path) -> tuple[int, str]:
        """Run a project's own tests in the venv; (number passed, output). Fails on any failure."""
        result = self.run("python", "-m", "pytest", "-v", "-p", "no:cacheprovider", cwd=project)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"tests of {project.name} failed:\n{output}"
        passed = re.search(r"(\d+) passed", output)
        return (int(passed.group(1)) if passed else 0), output


def cli_has_plugins_command() -> bool:
    """True when this checkout's CLI has a ``plugins`` command."""
    cli = ROOT / "core" / "claudette" / "cli.py"
    return cli.exists() and '"plugins"' in cli.read_text(encoding="utf-8")
