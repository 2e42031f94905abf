"""Helpers shared by the CLI tests: run ``python -m claudette`` in a clean, isolated environment.

Every CLI test runs the real command in a subprocess, with no API key, no proxy, no user
config, and auto-detection pointed at closed loopback ports (so a developer's own Ollama or
vLLM never leaks into a test).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

__all__ = ["SECRET", "cli_env", "closed_port", "fake_plugin", "run_cli", "write_config"]

#: A recognisable fake API key: no output of the command may ever contain it.
SECRET = "sk-test-CLAUDETTE-never-print-4f9a2c7e1b"

_SCRUBBED = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "DASHSCOPE_API_KEY",
    "DASHSCOPE_BASE_URL",
    "OLLAMA_HOST",
    "CLAUDETTE_CONFIG",
    "CLAUDETTE_BLOCK_PLUGINS",
    "CLAUDETTE_DISABLE_PLUGIN_AUTOLOAD",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no keys or proxies, a private config dir, probes on closed ports."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg-config")
    env["OLLAMA_HOST"] = f"127.0.0.1:{closed_port()}"
    env["CLAUDETTE_AUTODETECT_OPENAI_COMPAT_URL"] = f"http://127.0.0.1:{closed_port()}/v1"
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_cli(
    *args: str,
    env: dict[str, str],
    cwd: Path,
    input: str | None = None,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m claudette ARGS`` and capture stdout and stderr separately."""
    return subprocess.run(
        [sys.executable, "-m", "claudette", *args],
        env=env,
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_config(path: Path, text: str) -> Path:
    """Write a ``claudette.toml`` and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def fake_plugin(site: Path, name: str, source: str, *, dist: str | None = None) -> str:
    """Install a plugin module into ``site`` with a dist-info declaring its entry point.

    Put ``site`` on ``PYTHONPATH`` and ``importlib.metadata`` discovers it like a real
    installed distribution. Returns the distribution name.
    """
    dist = dist or f"claudette-fake-{name}"
    module = f"fake_plugin_{name}"
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(source, encoding="utf-8")
    info = site / f"{dist.replace('-', '_')}-0.7.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.7.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[claudette.backends]\n{name} = {module}\n", encoding="utf-8"
    )
    return dist
