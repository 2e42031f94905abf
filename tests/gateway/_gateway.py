"""Running ``claudette serve`` for the gateway tests: a real subprocess on a loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

#: The key the OpenAI emulators require (the secrets tests look for it).
OPENAI_KEY = "sk-gateway-upstream-3c9d1e7f"
CLAUDE_KEY = "sk-ant-gateway-upstream-6a2b"
#: A client key the gateway accepts when a test turns authentication on.
CLIENT_KEY = "cg-client-key-91f3a7d2e5"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(type(value))


def write_config(path: Path, tables: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write a TOML file of ``{"table.name": {key: value}}``."""
    lines: list[str] = []
    for table, values in tables.items():
        lines.append(f"[{table}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in values.items())
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def openai_backend(base_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "plugin": "openai",
        "base_url": base_url,
        "api_key": OPENAI_KEY,
        "model": "gpt-4o-mini",
        "input_cost_per_token": 1e-7,
        "output_cost_per_token": 3e-7,
        **extra,
    }


def claude_backend(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "plugin": "claude",
        "base_url": url,
        "api_key": CLAUDE_KEY,
        "model": "claude-sonnet-4-5",
        # Dear enough that "auto" prefers openai whatever the latencies seen so far.
        "input_cost_per_token": 5e-5,
        "output_cost_per_token": 1e-4,
        "priority": 200,
        **extra,
    }


class Gateway:
    """``claudette serve`` in a subprocess; its output goes to files beside the config."""

    def __init__(self, config: Path, *args: str, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stdout_path = config.with_suffix(".out")
        self.stderr_path = config.with_suffix(".err")
        environment = {**os.environ, **(env or {})}
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            environment.pop(name, None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "claudette", "serve", "-c", str(config), "--port", str(self.port), *args],
            stdout=self.stdout_path.open("w"),
            stderr=self.stderr_path.open("w"),
            env=environment,
            start_new_session=True,
        )

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (``.../v1``)."""
        return f"{self.url}/v1"

    def wait_ready(self, timeout: float = 30.0) -> Gateway:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"claudette serve exited with {self.process.returncode}: {self.output()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"claudette serve did not become ready: {self.output()}")

    def worker_pids(self) -> list[int]:
        """The process ids of the workers: the server process's children when it runs
        several, else the server process itself."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] or [self.process.pid]

    def output(self) -> str:
        return self.stdout_path.read_text() + self.stderr_path.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send ``sig`` and wait for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
            raise

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.stop()
            except subprocess.TimeoutExpired:
                pass


def connections_by_worker(gateway: Gateway, wanted: int = 2, tries: int = 40) -> dict[int, httpx.Client]:
    """One kept-alive connection to each worker (a TCP connection stays with one worker)."""
    found: dict[int, httpx.Client] = {}
    spare: list[httpx.Client] = []
    for _ in range(tries):
        client = httpx.Client(base_url=gateway.url, limits=httpx.Limits(max_connections=1), timeout=30.0)
        pid = client.get("/health").json()["worker"]
        if pid in found:
            spare.append(client)
        else:
            found[pid] = client
        if len(found) == wanted:
            break
    for client in spare:
        client.close()
    assert len(found) == wanted, f"only workers {sorted(found)} answered"
    return found


def run_serve(args: Sequence[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """``claudette serve ARGS`` to completion (for the ones that refuse to start)."""
    return subprocess.run(
        [sys.executable, "-m", "claudette", "serve", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
