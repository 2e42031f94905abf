"""A thin blocking facade over :class:`~claudette.router.BackendRouter` for scripts and the CLI."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

from claudette.router import BackendRouter
from claudette.types import ClaudetteRequest, ClaudetteResponse, StreamChunk

__all__ = ["SyncRouter"]


class SyncRouter:
    """Run a router on a private event loop, so plain functions can call it.

    The loop lives as long as the facade, so the router's pooled connections are reused
    across calls. Use it as a context manager, or call :meth:`close`.

    :param router: the router to drive; a new one with default options when omitted.
    """

    def __init__(self, router: BackendRouter | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._lock = threading.Lock()
        self.router = router if router is not None else BackendRouter()

    def _run(self, coro: Any) -> Any:
        with self._lock:
            return self._loop.run_until_complete(coro)

    def ask(self, prompt: str, **request_fields: Any) -> ClaudetteResponse:
        """Route a prompt; extra keyword arguments are :class:`ClaudetteRequest` fields."""
        return self.route_request(ClaudetteRequest(prompt=prompt, **request_fields))

    def route_request(self, request: ClaudetteRequest) -> ClaudetteResponse:
        """Blocking :meth:`BackendRouter.route_request`."""
        result: ClaudetteResponse = self._run(self.router.route_request(request))
        return result

    def stream(self, request: ClaudetteRequest) -> Iterator[StreamChunk]:
        """Blocking :meth:`BackendRouter.stream`: yields chunks as they arrive."""
        agen = self.router.stream(request)
        try:
            while True:
                try:
                    yield self._run(agen.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            self._run(agen.aclose())

    def close(self) -> None:
        """Close the router's connections and the private loop."""
        if self._loop.is_closed():
            return
        try:
            self._run(self.router.aclose())
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        finally:
            self._loop.close()

    def __enter__(self) -> SyncRouter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
