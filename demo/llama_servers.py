"""Start, kill and restart real llama.cpp OpenAI-compatible servers on loopback for the demo.

Each server is ``python -m llama_cpp.server`` in its own process group, logging to a file;
:meth:`LlamaServer.stop` (and :class:`ServerPool` on exit) makes sure none is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Protocol, TypeVar

__all__ = ["LlamaServer", "LoopbackProcess", "ServerPool", "free_port"]

MODEL_ALIAS = "gemma3-270m"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LoopbackProcess:
    """A server process on 127.0.0.1 that the demo starts and stops, its output in a log file.

    :param name: a label for messages and the log file.
    :param log_dir: where the process's output goes.
    """

    def __init__(self, name: str, log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name.replace(' ', '-')}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """The command line that starts the server."""
        raise NotImplementedError

    def ready_url(self) -> str:
        """A URL that answers 200 once the server serves."""
        raise NotImplementedError

    def environment(self) -> dict[str, str] | None:
        """The server's environment (None: the demo's own)."""
        return None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self.process.pid if self.process is not None and self.process.poll() is None else None

    def start(self) -> None:
        """Launch the server process (returns at once; see :meth:`wait_ready`)."""
        if self.pid is not None:
            return
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment(),
                start_new_session=True,  # Ctrl-C reaches the demo, which stops us itself
            )

    def is_ready(self) -> bool:
        """True when :meth:`ready_url` answers 200."""
        try:
            with urllib.request.urlopen(self.ready_url(), timeout=1.0) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def wait_ready(self, timeout: float = 180.0) -> float:
        """Wait until the server answers; returns the seconds it took.

        :raises RuntimeError: when the process exits or does not answer in time.
        """
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited during start-up; see {self.log_path}:\n{self.log_tail()}")
            if self.is_ready():
                return time.monotonic() - started
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer within {timeout:g}s; see {self.log_path}")

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the server's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class LlamaServer(LoopbackProcess):
    """One ``llama_cpp.server`` process serving a GGUF model on ``127.0.0.1:port``.

    :param name: a label for messages and the log file.
    :param model: the GGUF file.
    :param port: the port to listen on (kept across restarts).
    :param log_dir: where the server's output goes.
    """

    def __init__(self, name: str, model: Path, port: int, log_dir: Path, n_ctx: int = 2048) -> None:
        super().__init__(name, log_dir)
        self.model = model
        self.port = port
        self.n_ctx = n_ctx

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (``http://127.0.0.1:PORT/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        """``python -m llama_cpp.server`` for the model on the port."""
        return [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model),
            "--model_alias", MODEL_ALIAS,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--chat_format", "gemma",
            "--n_ctx", str(self.n_ctx),
        ]  # fmt: skip

    def ready_url(self) -> str:
        """``GET /v1/models``."""
        return f"{self.base_url}/models"

    def warm_up(self) -> None:
        """Ask for one token directly (not through the router), so the model is loaded and warm."""
        body = json.dumps(
            {"model": MODEL_ALIAS, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
        ).encode()
        request = urllib.request.Request(
            f"{self.base_url}/chat/completions", data=body, headers={"content-type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                response.read()
        except (urllib.error.URLError, OSError):
            pass  # the demo itself will show a server that does not answer

    def kill(self) -> None:
        """SIGKILL the server (a crash: no goodbye to open connections)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """Terminate the server and its process group; kill it if it lingers."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            except ProcessLookupError:
                pass


class Stoppable(Protocol):
    """A process the demo started and must stop."""

    def stop(self) -> object:
        """Stop it (nothing when it is not running)."""


S = TypeVar("S", bound=Stoppable)


class ServerPool:
    """The demo's servers; used as a context manager it stops every one on exit."""

    def __init__(self) -> None:
        self.servers: list[Stoppable] = []

    def add(self, server: S) -> S:
        """Track ``server`` so that it is stopped on exit."""
        self.servers.append(server)
        return server

    def stop_all(self) -> None:
        """Stop every tracked server, the last started first."""
        for server in reversed(self.servers):
            server.stop()

    def __enter__(self) -> ServerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_all()
