"""A loopback HTTP/1.1 server on a real socket, scripted reply by reply, with faults.

It runs its own event loop in a thread, so both sync tests (a CLI in a subprocess) and
async tests (a router on pytest's loop) can talk to it. Every request is logged.

    with LoopbackServer() as server:
        server.script(Reply.json({"ok": True}), Fault.reset(), Reply(status=503))
        ...  # the next three requests get these, in order
        assert [r.path for r in server.requests] == [...]

Replies can stream (chunked transfer encoding, a delay between chunks), arrive late,
be truncated, or never come (hang); the connection can be reset instead.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs

__all__ = ["Fault", "LoopbackServer", "RecordedRequest", "Reply"]


@attrs.frozen
class RecordedRequest:
    """One request the server received.

    :param method: ``GET``, ``POST`` ...
    :param path: the path without the query string.
    :param query: the parsed query string.
    :param headers: header names lower-cased.
    :param body: the raw body.
    :param received_at: ``time.monotonic()`` when the request was complete.
    """

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    received_at: float

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


@attrs.frozen
class Reply:
    """A scripted HTTP reply.

    :param status: the status code.
    :param headers: extra headers (``content-length`` or chunked framing is added).
    :param body: the whole body, for a plain reply.
    :param chunks: body pieces sent with chunked transfer encoding (a stream), instead of ``body``.
    :param delay: seconds to wait before sending anything.
    :param chunk_delay: seconds to wait before each chunk.
    :param truncate_at: send only this many body bytes (or, for a stream, chunks), then reset
        the connection (a cut-off reply).
    :param hang_after_chunks: after sending this many chunks, stop sending and hang.
    :param drip: send the body (or each chunk) one byte at a time, this many seconds
        before each byte.
    :param trickle: after the chunks, send this piece again and again, for ever, each
        ``trickle_interval`` seconds after the last (keep-alives that never end the body).
    :param trickle_interval: the pause before each ``trickle`` piece.
    """

    status: int = 200
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""
    chunks: Sequence[bytes] | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    truncate_at: int | None = None
    hang_after_chunks: int | None = None
    drip: float = 0.0
    trickle: bytes | None = None
    trickle_interval: float = 0.5

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None, **kw: Any) -> Reply:
        """A JSON reply."""
        return cls(
            status,
            {"content-type": "application/json", **(headers or {})},
            json.dumps(data).encode(),
            **kw,
        )

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain", **kw: Any) -> Reply:
        """A plain-text reply."""
        headers = {"content-type": content_type, **kw.pop("headers", {})}
        return cls(status, headers, text.encode(), **kw)

    @classmethod
    def stream(
        cls,
        pieces: Sequence[str | bytes],
        content_type: str = "text/event-stream",
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        **kw: Any,
    ) -> Reply:
        """A chunked streaming reply, one chunk per piece."""
        chunks = [p.encode() if isinstance(p, str) else p for p in pieces]
        return cls(status, {"content-type": content_type, **(headers or {})}, b"", chunks, **kw)


@attrs.frozen
class Fault:
    """A scripted failure instead of a reply.

    :param kind: ``reset`` (close the connection without answering) or ``hang`` (read the
        request, then send nothing for ``seconds``).
    :param seconds: how long a hang lasts before the connection is closed.
    """

    kind: str
    seconds: float = 0.0

    @classmethod
    def reset(cls) -> Fault:
        """Close the connection as soon as the request is read."""
        return cls("reset")

    @classmethod
    def hang(cls, seconds: float = 30.0) -> Fault:
        """Accept the request and answer nothing for ``seconds``."""
        return cls("hang", seconds)


Handler = Callable[[RecordedRequest], "Reply | Fault | Awaitable[Reply | Fault]"]

_REASONS = {
    200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 408: "Request Timeout", 409: "Conflict",
    413: "Payload Too Large", 422: "Unprocessable Entity", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Gateway Timeout", 529: "Site Overloaded",
}


def _default_handler(request: RecordedRequest) -> Reply:
    return Reply.json({"error": f"no reply scripted for {request.method} {request.path}"}, 500)


class LoopbackServer:
    """An HTTP/1.1 server on ``127.0.0.1`` (a free port), in a background thread.

    :param handler: answers requests that no scripted reply is queued for; may be async.
    :param host: the loopback address to bind.
    :param port: the port (0 picks a free one).
    """

    def __init__(self, handler: Handler | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.handler: Handler = handler or _default_handler
        self.host = host
        self._port = port
        self._queue: deque[Reply | Fault] = deque()
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        #: TCP connections accepted so far (a client that pools connections opens few).
        self.connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # -- lifetime ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port."""
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self._port}"

    def start(self) -> LoopbackServer:
        """Bind and start serving; returns self."""
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._serve, self.host, self._port, backlog=512)
                )
                self._port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # report bind errors to the caller
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"loopback-{id(self):x}", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        """Close every connection and stop the thread."""
        loop = self._loop
        if loop is None or self._thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for w in list(self._writers):
                w.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)
        self._loop = None
        self._thread = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- scripting ------------------------------------------------------------------------

    def script(self, *replies: Reply | Fault) -> None:
        """Queue replies for the next requests, in order (before the handler is asked)."""
        with self._lock:
            self._queue.extend(replies)

    def clear(self) -> None:
        """Drop queued replies and the request log."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The logged requests whose path is ``path``."""
        return [r for r in self.requests if r.path == path]

    # -- serving --------------------------------------------------------------------------

    async def _read_request(self, reader: asyncio.StreamReader) -> RecordedRequest | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        body = b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await reader.readline()).strip() or b"0", 16)
                if size == 0:
                    await reader.readline()
                    break
                parts.append(await reader.readexactly(size))
                await reader.readline()
            body = b"".join(parts)
        elif "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        split = urlsplit(target)
        return RecordedRequest(
            method, split.path, parse_qs(split.query), headers, body, time.monotonic()
        )

    async def _reply_for(self, request: RecordedRequest) -> Reply | Fault:
        with self._lock:
            self.requests.append(request)
            queued = self._queue.popleft() if self._queue else None
        if queued is not None:
            return queued
        result = self.handler(request)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    return
                reply = await self._reply_for(request)
                if isinstance(reply, Fault):
                    if reply.kind == "hang":
                        await asyncio.sleep(reply.seconds)
                    transport = writer.transport
                    if hasattr(transport, "abort"):
                        transport.abort()
                    return
                keep = await self._send(writer, reply)
                if not keep or request.headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            return
        finally:
            self._writers.discard(writer)
            try:
                writer.close()
            except Exception:
                pass

    async def _send(self, writer: asyncio.StreamWriter, reply: Reply) -> bool:
        """Send one reply; returns whether the connection may be reused."""
        if reply.delay:
            await asyncio.sleep(reply.delay)
        reason = _REASONS.get(reply.status, "Status")
        head = [f"HTTP/1.1 {reply.status} {reason}"]
        names = {k.lower() for k in reply.headers}
        head.extend(f"{k}: {v}" for k, v in reply.headers.items())
        streaming = reply.chunks is not None
        if streaming:
            head.append("transfer-encoding: chunked")
        elif "content-length" not in names:
            head.append(f"content-length: {len(reply.body)}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if not streaming:
            body = reply.body
            if reply.truncate_at is not None:
                writer.write(body[: reply.truncate_at])
                await writer.drain()
                writer.transport.abort()
                return False
            if reply.drip:
                for i in range(len(body)):
                    await asyncio.sleep(reply.drip)
                    writer.write(body[i : i + 1])
                    await writer.drain()
                return True
            writer.write(body)
            await writer.drain()
            return True
        assert reply.chunks is not None
        chunks = reply.chunks
        if reply.truncate_at is not None:
            chunks = chunks[: reply.truncate_at]
        for i, chunk in enumerate(chunks):
            if i == reply.hang_after_chunks:
                await _stall(writer)
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
            if chunk and reply.drip:
                for i in range(len(chunk)):
                    await asyncio.sleep(reply.drip)
                    writer.write(b"1\r\n" + chunk[i : i + 1] + b"\r\n")
                    await writer.drain()
            elif chunk:
                writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                await writer.drain()
        if reply.hang_after_chunks is not None and reply.hang_after_chunks >= len(chunks):
            await _stall(writer)
        if reply.trickle:
            frame = f"{len(reply.trickle):x}\r\n".encode() + reply.trickle + b"\r\n"
            while True:
                await asyncio.sleep(reply.trickle_interval)
                writer.write(frame)
                await writer.drain()
        if reply.truncate_at is not None:
            await writer.drain()
            writer.transport.abort()
            return False
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True


async def _stall(writer: asyncio.StreamWriter) -> None:
    """Flush what was sent, then send nothing more (until the server stops)."""
    await writer.drain()
    await asyncio.sleep(3600)
