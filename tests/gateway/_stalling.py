"""An OpenAI-compatible upstream that streams a few events, then waits for the client to leave.

It records when each client connection closed, so a test can tell how soon the gateway
gave up its upstream call after its own client went away.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time


class StallingUpstream:
    """``POST /v1/chat/completions`` → an SSE stream of ``events`` chunks that never ends."""

    def __init__(self, events: int = 2) -> None:
        self.events = events
        self.requests = 0
        #: Monotonic times at which a client connection was closed by the client.
        self.closed_at: list[float] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> StallingUpstream:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        if not head.startswith(b"POST "):  # a health check: the model list
            models = b'{"object":"list","data":[{"id":"gpt-4o-mini","object":"model"}]}'
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n"
                         b"content-length: %d\r\n\r\n%s" % (len(models), models))
            await writer.drain()
            writer.close()
            return
        self.requests += 1
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        for i in range(self.events):
            chunk = {
                "id": "chatcmpl-stall",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "delta": {"content": f"word{i} "}, "finish_reason": None}],
            }
            event = b"data: " + json.dumps(chunk).encode() + b"\n\n"
            writer.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
        await writer.drain()
        try:
            await reader.read()  # returns b"" when the client closes the connection
            self.closed_at.append(time.monotonic())
        except ConnectionError:
            self.closed_at.append(time.monotonic())
        finally:
            writer.close()
