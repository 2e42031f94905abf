"""The gateway's ASGI application: OpenAI's HTTP surface over a :class:`BackendRouter`.

    POST /v1/chat/completions   JSON or server-sent events
    GET  /v1/models             ``auto`` and every configured backend
    GET  /health                200 while serving
    GET  /metrics               Prometheus text exposition

A plain ASGI callable, with no web framework between the server and the router: the
translation lives in :mod:`claudette.gateway.translate`, the error shapes in
:mod:`claudette.gateway.errors`. Every call runs beside a watch on the connection: a client
that goes away cancels the router's call at once, so no provider keeps generating for nobody.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from claudette._log import logger
from claudette.gateway.errors import GatewayError, error_for
from claudette.gateway.metrics import Exposition
from claudette.gateway.options import ServerOptions
from claudette.gateway.translate import (
    AUTO_MODEL,
    ChatCall,
    ChunkWriter,
    completion_body,
    cost_text,
    new_completion_id,
    parse_chat_request,
)

if TYPE_CHECKING:
    from claudette.router import BackendRouter
    from claudette.types import ClaudetteResponse

__all__ = ["GatewayApp"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
RouterFactory = Callable[[], Awaitable["BackendRouter"]]

_JSON = (b"content-type", b"application/json")
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_CHAT_PATH = "/v1/chat/completions"
_MODELS_PATH = "/v1/models"


def _json_bytes(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _cost_header(cost: float) -> tuple[bytes, bytes]:
    return (b"x-claudette-cost-eur", cost_text(cost).encode())


async def _wait_for_disconnect(receive: Receive) -> None:
    """Return when the client has gone away."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


class _ClientGone(Exception):
    """The client went away before the reply was complete."""


#: The answer to a request the server cancels when it stops.
_STOPPING = GatewayError(
    503,
    "the gateway stopped before the answer was complete: retry the request",
    "service_unavailable",
    code="server_stopping",
)


class GatewayApp:
    """An ASGI application serving OpenAI's Chat Completions API through a router.

    :param make_router: builds the router when the server starts (ASGI lifespan), in the
        process that serves with it.
    :param options: the ``[server]`` options (API keys, body limit).
    :param router: a ready router instead of ``make_router`` (the caller closes it).
    :param metrics: renders ``GET /metrics`` (content type, body); None answers 404.
    :param on_shutdown: called when the server stops this app, after the router is closed.
    """

    def __init__(
        self,
        make_router: RouterFactory | None = None,
        options: ServerOptions | None = None,
        *,
        router: BackendRouter | None = None,
        metrics: Exposition | None = None,
        on_shutdown: Callable[[], None] | None = None,
    ) -> None:
        if (make_router is None) == (router is None):
            raise ValueError("give either make_router or router")
        self.options = options or ServerOptions()
        self._make_router = make_router
        self._router = router
        self._keys = [key.encode() for key in self.options.api_keys]
        self._metrics = metrics
        self._on_shutdown = on_shutdown
        # The worker's process id tells apart the workers behind one port.
        self._health = _json_bytes({"status": "ok", "worker": os.getpid()})

    @property
    def router(self) -> BackendRouter:
        """The router requests go through (built at startup)."""
        if self._router is None:
            raise RuntimeError("the gateway has not started: its router is not built yet")
        return self._router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    # -- lifespan ------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except BaseException as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    raise
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        """Build the router (when built from ``make_router``)."""
        if self._router is None and self._make_router is not None:
            self._router = await self._make_router()

    async def shutdown(self) -> None:
        """Close the router this app built, then call ``on_shutdown``."""
        if self._make_router is not None and self._router is not None:
            router, self._router = self._router, None
            await router.aclose()
        if self._on_shutdown is not None:
            self._on_shutdown()

    # -- HTTP ----------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        try:
            if path == _CHAT_PATH:
                if method != "POST":
                    raise GatewayError(405, f"{method} is not allowed on {path}: use POST")
                self._authorize(scope)
                await self._chat(scope, receive, send)
            elif path == _MODELS_PATH:
                if method != "GET":
                    raise GatewayError(405, f"{method} is not allowed on {path}: use GET")
                self._authorize(scope)
                await self._reply(send, 200, _json_bytes(self._models()))
            elif path == "/health":
                await self._reply(send, 200, self._health)
            elif path == "/metrics":
                if self._metrics is None:
                    raise GatewayError(
                        404, "metrics need the claudette-prometheus plugin: pip install claudette-prometheus",
                        code="unknown_url",
                    )
                content_type, body = self._metrics()
                await self._reply(send, 200, body, content_type=content_type)
            else:
                raise GatewayError(404, f"Unknown path {path!r}", code="unknown_url")
        except GatewayError as error:
            await self._error(send, error)
        except _ClientGone:
            return
        except Exception as exc:  # a bug: answer in OpenAI's shape, say it in the log
            logger.exception("gateway: internal error on %s %s", method, path)
            await self._error(send, error_for(exc))

    def _authorize(self, scope: Scope) -> None:
        """Check the bearer key in constant time; 401 when it is missing or wrong."""
        if not self._keys:
            return
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                given = value
                break
        scheme, _, token = given.partition(b" ")
        token = token.strip()
        matched = False
        for key in self._keys:  # every key compared, whichever matches
            matched |= hmac.compare_digest(token, key)
        if scheme.lower() != b"bearer" or not matched:
            raise GatewayError(
                401,
                "Incorrect or missing API key: send Authorization: Bearer <key>",
                code="invalid_api_key",
            )

    def _models(self) -> dict[str, Any]:
        names = [AUTO_MODEL, *self.router.backends]
        return {
            "object": "list",
            "data": [{"id": n, "object": "model", "created": 0, "owned_by": "claudette"} for n in names],
        }

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.options.max_body_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise GatewayError(400, "invalid Content-Length header") from None
                if declared > limit:
                    raise GatewayError(413, f"the request body is larger than {limit} bytes", code="request_too_large")
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise GatewayError(413, f"the request body is larger than {limit} bytes", code="request_too_large")
            parts.append(chunk)
            if not message.get("more_body", False):
                return parts[0] if len(parts) == 1 else b"".join(parts)

    async def _chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = await self._read_body(scope, receive)
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise GatewayError(400, f"the request body is not valid JSON: {exc}") from None
        call = parse_chat_request(body, self.router.backends)
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        work = self._stream(call, send_tracked) if call.stream else self._complete(call, send_tracked)
        try:
            await self._watching(work, receive)
        except asyncio.CancelledError:
            # Only the server cancels this task (a client that leaves ends _watching): it
            # is stopping and the grace period is over. The reply ends in an error the
            # client's SDK retries, and the task then ends normally, as the server expects.
            if not started:
                await self._error(send, _STOPPING)
            elif call.stream:
                await send({"type": "http.response.body", "body": ChunkWriter.error(_STOPPING)})

    async def _watching(self, work: Awaitable[None], receive: Receive) -> None:
        """Run ``work``, cancelling it at once when the client goes away."""
        task = asyncio.ensure_future(work)
        watch = asyncio.ensure_future(_wait_for_disconnect(receive))
        try:
            await asyncio.wait((task, watch), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not task.done():
                task.cancel()
            watch.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if watch.cancelled() or not watch.done():
                raise  # the server cancelled this request, not the client
            return

    async def _complete(self, call: ChatCall, send: Send) -> None:
        try:
            response = await self.router.route_request(call.request)
        except Exception as exc:
            await self._error(send, self._mapped(exc))
            return
        body = completion_body(response, new_completion_id(), int(time.time()))
        await self._reply(send, 200, _json_bytes(body), extra=self._answer_headers(response))

    async def _stream(self, call: ChatCall, send: Send) -> None:
        writer: ChunkWriter | None = None
        try:
            async with aclosing(self.router.stream(call.request)) as chunks:
                async for chunk in chunks:
                    events = b""
                    if writer is None:  # the first chunk names the backend: the reply starts
                        backend = self.router.backends.get(chunk.backend)
                        model = backend.settings.model if backend is not None else None
                        writer = ChunkWriter(model or chunk.backend, include_usage=call.include_usage)
                        await send(
                            {
                                "type": "http.response.start",
                                "status": 200,
                                "headers": [*_SSE_HEADERS, (b"x-claudette-backend", chunk.backend.encode())],
                            }
                        )
                        events = writer.first("")
                    if chunk.text:
                        events += writer.text(chunk.text)
                    if chunk.tool_call_deltas:
                        events += writer.tool_calls(chunk.tool_call_deltas)
                    if chunk.response is not None:
                        await send({"type": "http.response.body", "body": events + writer.final(chunk.response)})
                        return
                    if events:
                        await send({"type": "http.response.body", "body": events, "more_body": True})
            raise GatewayError(502, "the stream ended without its final chunk", "api_error")
        except Exception as exc:
            error = self._mapped(exc)
            if writer is None:
                await self._error(send, error)
            else:
                await send({"type": "http.response.body", "body": ChunkWriter.error(error)})

    @staticmethod
    def _mapped(exc: Exception) -> GatewayError:
        error = error_for(exc)
        if error.status >= 500:
            logger.warning("gateway: %s (HTTP %d): %s", type(exc).__name__, error.status, exc)
        return error

    @staticmethod
    def _answer_headers(response: ClaudetteResponse) -> list[tuple[bytes, bytes]]:
        return [(b"x-claudette-backend", response.backend_used.encode()), _cost_header(response.cost_eur)]

    @staticmethod
    async def _reply(
        send: Send,
        status: int,
        body: bytes,
        *,
        extra: list[tuple[bytes, bytes]] | None = None,
        content_type: bytes = b"application/json",
    ) -> None:
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        if extra:
            headers.extend(extra)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _error(self, send: Send, error: GatewayError) -> None:
        await self._reply(send, error.status, error.body_bytes(), extra=error.headers())
