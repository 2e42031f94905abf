"""The upstream every contender talks to: nginx on a free loopback port, else the emulator.

nginx answers ``POST .../chat/completions`` with the OpenAI JSON fixture, the same path
under ``/sse/`` with the SSE transcript, and ``GET .../models`` with a model list. It runs
as a non-daemon child with its own prefix, pid file and temp paths, and is stopped on exit.
When nginx is absent, :class:`claudette.testing.LoopbackServer` (Python) serves the same
bodies, and the report says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import attrs

FIXTURES = Path(__file__).parent / "fixtures"
NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
MODELS_BODY = json.dumps({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "owned_by": "bench"}]})

__all__ = ["Upstream", "chat_body", "find_nginx", "sse_body", "start_upstream"]


@attrs.frozen
class Upstream:
    """A running upstream.

    :param kind: ``nginx`` or ``emulator``.
    :param label: a human description for the report.
    :param root: ``http://127.0.0.1:PORT``.
    """

    kind: str
    label: str
    root: str

    @property
    def json_base(self) -> str:
        """OpenAI base URL (with ``/v1``) answering non-streamed completions."""
        return f"{self.root}/v1"

    @property
    def sse_base(self) -> str:
        """OpenAI base URL (with ``/v1``) answering with the SSE transcript."""
        return f"{self.root}/sse/v1"


def chat_body() -> str:
    """The non-streamed completion body (compact JSON)."""
    return json.dumps(json.loads((FIXTURES / "openai-chat.json").read_text()), separators=(",", ":"))


def sse_body() -> str:
    """The SSE transcript body."""
    return (FIXTURES / "openai-chat-stream.sse").read_text()


def find_nginx() -> str | None:
    """Path of an nginx binary, or None."""
    found = shutil.which("nginx")
    if found:
        return found
    for path in NGINX_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    return None


def free_port() -> int:
    """A currently free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _nginx_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("$", "${dollar}") + "'"


def nginx_config(prefix: Path, port: int) -> str:
    """An nginx.conf for the bench: one worker, long keep-alive, no logs."""
    return f"""
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    tcp_nodelay on;
    geo $dollar {{ default "$"; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location ~ ^/sse/.*chat/completions$ {{
            default_type text/event-stream;
            return 200 {_nginx_quote(sse_body())};
        }}
        location ~ chat/completions$ {{
            default_type application/json;
            return 200 {_nginx_quote(chat_body())};
        }}
        location ~ /models$ {{
            default_type application/json;
            return 200 {_nginx_quote(MODELS_BODY)};
        }}
    }}
}}
"""


def _wait_port(port: int, proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"nginx exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"upstream did not listen on port {port}")


@contextlib.contextmanager
def _nginx(binary: str) -> Iterator[Upstream]:
    prefix = Path(tempfile.mkdtemp(prefix="claudette-bench-nginx-"))
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_config(prefix, port))
    proc = subprocess.Popen(
        [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_port(port, proc)
        version = subprocess.run([binary, "-v"], capture_output=True, text=True).stderr.strip()
        yield Upstream("nginx", f"{version} (1 worker, loopback)", f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(prefix, ignore_errors=True)


@contextlib.contextmanager
def _emulator() -> Iterator[Upstream]:
    from claudette.testing import LoopbackServer, Reply

    chat, sse, models = chat_body().encode(), sse_body(), MODELS_BODY.encode()

    def handler(request: object) -> Reply:
        path = getattr(request, "path", "")
        if path.endswith("chat/completions"):
            if path.startswith("/sse/"):
                return Reply.stream([sse])
            return Reply(200, {"content-type": "application/json"}, chat)
        return Reply(200, {"content-type": "application/json"}, models)

    with LoopbackServer(handler=handler) as server:
        yield Upstream(
            "emulator",
            "claudette.testing.LoopbackServer (Python emulator: nginx NOT found, figures are slower)",
            server.url.rstrip("/"),
        )


@contextlib.contextmanager
def start_upstream(force_emulator: bool = False) -> Iterator[Upstream]:
    """Start nginx (or the emulator when nginx is absent or ``force_emulator``)."""
    binary = None if force_emulator else find_nginx()
    cm = _nginx(binary) if binary else _emulator()
    with cm as upstream:
        yield upstream
