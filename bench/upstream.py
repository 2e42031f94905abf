"""The upstream every contender talks to: nginx on a free loopback port, else a Python server.

nginx answers ``POST .../chat/completions`` with the recorded OpenAI JSON body, the same
path under ``/sse/`` with the recorded SSE stream, and ``GET .../models`` with a model
list. It runs as a child process with its own prefix and is stopped on exit. Without
nginx, :class:`claudette.testing.LoopbackServer` serves the same bodies (slower, so the
report names the upstream).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

FIXTURES = Path(__file__).parent / "fixtures"
MODELS_BODY = json.dumps({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})


class Upstream(NamedTuple):
    """A running upstream: ``kind`` (nginx or python), a label for the report, its root URL."""

    kind: str
    label: str
    root: str

    @property
    def json_base(self) -> str:
        """OpenAI base URL answering non-streamed completions."""
        return f"{self.root}/v1"

    @property
    def sse_base(self) -> str:
        """OpenAI base URL answering with the SSE stream."""
        return f"{self.root}/sse/v1"


def chat_body() -> str:
    """The recorded non-streamed completion (compact JSON)."""
    return json.dumps(
        json.loads((FIXTURES / "openai-chat.json").read_text()), separators=(",", ":")
    )


def sse_body() -> str:
    """The recorded SSE stream."""
    return (FIXTURES / "openai-chat-stream.sse").read_text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _quote(text: str) -> str:
    # nginx has no escape for "$" inside a string: the geo block below defines $dollar.
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("$", "${dollar}") + "'"


def nginx_config(prefix: Path, port: int) -> str:
    """An nginx.conf serving the recorded bodies: one worker, long keep-alive, no access log."""
    temp = "\n".join(
        f"    {k}_temp_path {prefix}/{k};"
        for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
{temp}
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    tcp_nodelay on;
    geo $dollar {{ default "$"; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location ~ ^/sse/.*chat/completions$ {{ default_type text/event-stream; return 200 {_quote(sse_body())}; }}
        location ~ chat/completions$ {{ default_type application/json; return 200 {_quote(chat_body())}; }}
        location ~ /models$ {{ default_type application/json; return 200 {_quote(MODELS_BODY)}; }}
    }}
}}
"""


def _wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on port {port}")


@contextlib.contextmanager
def _nginx(binary: str) -> Iterator[Upstream]:
    prefix = Path(tempfile.mkdtemp(prefix="claudette-bench-nginx-"))
    port = _free_port()
    (prefix / "nginx.conf").write_text(nginx_config(prefix, port))
    cmd = [
        binary,
        "-p",
        str(prefix),
        "-c",
        str(prefix / "nginx.conf"),
        "-e",
        str(prefix / "error.log"),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc)
        version = subprocess.run([binary, "-v"], capture_output=True, text=True).stderr.strip()
        yield Upstream(
            "nginx",
            f"{version.removeprefix('nginx version: ')}, 1 worker",
            f"http://127.0.0.1:{port}",
        )
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(prefix, ignore_errors=True)


@contextlib.contextmanager
def _python_server() -> Iterator[Upstream]:
    from claudette.testing import LoopbackServer, Reply

    chat, sse, models = chat_body().encode(), sse_body(), MODELS_BODY.encode()

    def handler(request: Any) -> Reply:
        if request.path.endswith("chat/completions"):
            if request.path.startswith("/sse/"):
                return Reply.stream([sse])
            return Reply(200, {"content-type": "application/json"}, chat)
        return Reply(200, {"content-type": "application/json"}, models)

    with LoopbackServer(handler=handler) as server:
        label = "claudette.testing.LoopbackServer (Python; nginx not found, every figure is slower)"
        yield Upstream("python", label, server.url.rstrip("/"))


@contextlib.contextmanager
def start_upstream(python_only: bool = False) -> Iterator[Upstream]:
    """nginx when it is installed (and ``python_only`` is false), else the Python server."""
    binary = (
        None
        if python_only
        else shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    )
    with _nginx(binary) if binary else _python_server() as upstream:
        yield upstream
