"""What observers know of one routed request, from its start to its end.

The router makes one :class:`RequestContext` per request it routes (``route_request``
without a cache hit, and ``stream``) and hands it to every observer hook: to
``claudette_request_start`` and ``claudette_request_end`` around the request, and to
``claudette_after_attempt`` and ``claudette_breaker_transition`` for what happens within
it. The router keeps its fields up to date; an observer reads them and keeps its own
per-request data (a tracing span, a timer) in :attr:`RequestContext.state`, under its own
name.

A breaker that changes state while an attempt is being recorded reports the context of
that attempt: :func:`recording` marks it, :func:`current` reads it.
"""

from __future__ import annotations

import time
import uuid
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from claudette.types import ClaudetteRequest

__all__ = ["RequestContext", "current", "recording"]


class RequestContext:
    """One routed request as observers see it.

    :param request: the request as the caller sent it.
    :param stream: True for ``stream()``, False for ``route_request()``.
    """

    __slots__ = (
        "_request_id",
        "attempt",
        "backend",
        "breaker_state",
        "failures",
        "fallback_from",
        "fallback_reason",
        "first_chunk_ms",
        "outcome",
        "request",
        "started",
        "state",
        "stream",
    )

    def __init__(self, request: ClaudetteRequest, *, stream: bool = False) -> None:
        self.request = request
        self.stream = stream
        #: ``time.perf_counter()`` when the router took the request.
        self.started = time.perf_counter()
        #: The number of the attempt in progress (or the last one), from 1; 0 before any.
        self.attempt = 0
        #: The backend of that attempt; None before any.
        self.backend: str | None = None
        #: The state of that backend's circuit breaker once the attempt was recorded.
        self.breaker_state: str | None = None
        #: Set on the first attempt after a fallback: the backend whose failure led to it,
        #: and how it failed. None on the first attempt and on retries.
        self.fallback_from: str | None = None
        self.fallback_reason: str | None = None
        #: How each backend that failed this request failed, in the order they were tried.
        self.failures: dict[str, str] = {}
        #: Milliseconds from the start until the first chunk of a stream was received.
        self.first_chunk_ms: float | None = None
        #: How the request ended: ``success``, ``error`` or ``cancelled``; None until then.
        self.outcome: str | None = None
        #: Each observer's own data for this request, under the observer's name.
        self.state: dict[str, Any] = {}
        self._request_id: str | None = None

    @property
    def request_id(self) -> str:
        """A unique id for this request (32 hexadecimal digits), made when first read."""
        if self._request_id is None:
            self._request_id = uuid.uuid4().hex
        return self._request_id

    @property
    def elapsed_ms(self) -> float:
        """Milliseconds since the router took the request."""
        return (time.perf_counter() - self.started) * 1000.0

    def __repr__(self) -> str:
        return (
            f"<RequestContext attempt={self.attempt} backend={self.backend!r} "
            f"outcome={self.outcome!r}>"
        )


_current: ContextVar[RequestContext | None] = ContextVar("claudette_request_context", default=None)


def current() -> RequestContext | None:
    """The request whose attempt is being recorded right now, if any."""
    return _current.get()


class recording:
    """Mark ``context`` as the request being recorded, for the length of a ``with`` block.

    The block must not await: the mark is for what happens synchronously inside it (a
    breaker moving when the attempt's outcome is recorded).
    """

    __slots__ = ("_context", "_token")

    def __init__(self, context: RequestContext) -> None:
        self._context = context

    def __enter__(self) -> RequestContext:
        self._token = _current.set(self._context)
        return self._context

    def __exit__(self, *exc_info: object) -> None:
        _current.reset(self._token)
