"""The floor under any Python gateway: a forwarder with no routing, for ``bench/gateway.py``.

An ASGI application on the same server as ``claudette serve`` (uvicorn with uvloop and
httptools, the same keep-alive), checking the same bearer key, that sends each request's
body unchanged to one upstream through one ``aiohttp.ClientSession`` and passes the reply
back as it arrives: no parsing, no translation, no selection, no breaker, no accounting.
What it adds to a request and what it serves at 64 in flight is what this machine's Python
HTTP stack costs before a gateway does any work of its own.

    /v1/...      -> $FORWARD_JSON_BASE/...
    /sse/v1/...  -> $FORWARD_SSE_BASE/...
    /health      -> 200

    python -m uvicorn --app-dir bench --factory forwarder:app --loop uvloop --http httptools ...
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import aiohttp

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_PASSED = ("content-type", "content-length")


class Forwarder:
    """Forward ``/v1`` to one upstream and ``/sse/v1`` to another, checking one key."""

    def __init__(self, json_base: str, sse_base: str, key: str) -> None:
        self._bases = {"/v1/": json_base.rstrip("/") + "/", "/sse/v1/": sse_base.rstrip("/") + "/"}
        self._key = f"Bearer {key}".encode()
        self._session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["path"] == "/health":
            await self._reply(send, 200, b"ok")
        else:
            await self._forward(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._session = aiohttp.ClientSession(auto_decompress=False)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._session is not None:
                    await self._session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _forward(self, scope: Message, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        prefix = "/sse/v1/" if path.startswith("/sse/v1/") else "/v1/"
        given = dict(scope["headers"]).get(b"authorization", b"")
        if not path.startswith(prefix) or not hmac.compare_digest(given, self._key):
            await self._reply(send, 401 if path.startswith(prefix) else 404, b"{}")
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        assert self._session is not None
        url = self._bases[prefix] + path[len(prefix) :]
        async with self._session.post(
            url, data=body, headers={"content-type": "application/json"}
        ) as reply:
            headers = [
                (k.encode(), v.encode()) for k, v in reply.headers.items() if k.lower() in _PASSED
            ]
            await send({"type": "http.response.start", "status": reply.status, "headers": headers})
            async for piece in reply.content.iter_any():
                await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def _reply(send: Send, status: int, body: bytes) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def app() -> Forwarder:
    """The application, from ``FORWARD_JSON_BASE``, ``FORWARD_SSE_BASE`` and ``FORWARD_KEY``
    (uvicorn's ``--factory``)."""
    return Forwarder(
        os.environ["FORWARD_JSON_BASE"], os.environ["FORWARD_SSE_BASE"], os.environ["FORWARD_KEY"]
    )
