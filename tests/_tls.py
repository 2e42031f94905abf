"""An HTTPS server on loopback with a self-signed certificate, for the TLS settings' tests.

The certificate (``fixtures/tls``, for ``127.0.0.1`` and ``localhost``) is signed by no
authority a client trusts: a client that verifies certificates refuses the server, one
that does not verify reaches it.
"""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CERTIFICATE = Path(__file__).parent / "fixtures" / "tls" / "loopback-cert.pem"
PRIVATE_KEY = Path(__file__).parent / "fixtures" / "tls" / "loopback-key.pem"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        self.server.paths.append(self.path)
        body = b'{"tls": true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:  # quiet: no stderr per request
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.paths: list[str] = []


class TLSServer:
    """``with TLSServer() as server:`` serves HTTPS on ``server.url`` until the block ends;
    every request is answered ``200 {"tls": true}`` and its path logged in ``server.paths``
    (only requests that got through the TLS handshake are logged)."""

    def __init__(self) -> None:
        self._server = _Server()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(CERTIFICATE, PRIVATE_KEY)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """``https://127.0.0.1:PORT``."""
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    @property
    def paths(self) -> list[str]:
        """The paths of the requests served, in order."""
        return self._server.paths

    def __enter__(self) -> TLSServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
