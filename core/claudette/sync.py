"""A thin blocking facade over :class:`~claudette.router.BackendRouter` for scripts and the CLI."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from claudette.router import BackendRouter
from claudette.types import OPTION_NAMES, ClaudetteRequest, ClaudetteResponse, StreamChunk

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

    @classmethod
    def from_config(cls, config_path: str | None = None, *, preset: str | None = None) -> SyncRouter:
        """A facade over the router the ``claudette`` command would use: from
        ``claudette.toml`` when one is found, else auto-detected (see
        :func:`claudette.open_router`).

        :raises ConfigError: when a named config is missing or the config is invalid.
        """
        from claudette.factory import open_router

        facade = cls()
        try:
            facade.router = facade._run(open_router(config_path, preset=preset))
        except BaseException:
            facade.close()
            raise
        return facade

    def ask(self, prompt: str, **fields: Any) -> ClaudetteResponse:
        """Route a prompt. Keyword arguments are generation options (``max_tokens=12``,
        ``temperature``, ``top_p`` ...) or other :class:`ClaudetteRequest` fields
        (``tools``, ``backend`` ...)."""
        options = {k: fields.pop(k) for k in list(fields) if k in OPTION_NAMES}
        if options:
            given = fields.pop("options", None) or {}
            if not isinstance(given, Mapping):
                given = attrs.asdict(given)
            fields["options"] = {**given, **options}
        return self.route_request(ClaudetteRequest(prompt=prompt, **fields))

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
