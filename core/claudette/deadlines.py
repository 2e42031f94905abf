"""The bounds of one provider call: a deadline for a whole answer, a clock for a stream.

httpx's ``timeout`` bounds each network operation, not a whole call: an upstream that
drips a byte now and then, or sends only keep-alives, never trips it. A backend bounds
its calls with these two, both on ``asyncio.timeout``:

    async with CallDeadline(self.name, self.settings.timeout):
        reply = await self.client.post(...)           # the body read in full, in time

    clock = StreamClock(self.name, self.settings)
    while (events := await clock.wait(decoder.read(texts))) is not None:
        for event in events:
            if event is meaningful:                   # not a keep-alive
                clock.progressed()

- :class:`CallDeadline`: the call ends within ``timeout`` seconds, body included;
- :class:`StreamClock`: a stream waits at most ``timeout`` seconds for its first meaningful
  event, then at most ``stream_idle_timeout`` between meaningful events, and at most
  ``stream_timeout`` on the provider in all. Only time spent waiting on the provider
  counts: a caller that reads slowly does not use up the provider's time.

Past a bound, both raise :class:`~claudette.errors.BackendTimeoutError` (retryable).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, TypeVar

from claudette._compat import timeout
from claudette.errors import BackendTimeoutError

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager
    from types import TracebackType

    from claudette.types import BackendSettings

__all__ = ["CallDeadline", "StreamClock"]

T = TypeVar("T")

#: When (on the event loop's clock) the innermost deadline armed around the running code
#: ends. A bound that would end no sooner is already kept by that one and arms no timer of
#: its own: the router bounds each attempt, and the backend's own deadline inside it then
#: costs nothing.
_ENDS_AT: ContextVar[float] = ContextVar("claudette_deadline_ends_at", default=math.inf)


def _own_end(seconds: float) -> float | None:
    """When a deadline of ``seconds`` armed now would end, on the event loop's clock; None
    when a deadline around the running code ends no later and so keeps this one."""
    ends_at = asyncio.get_running_loop().time() + seconds
    return None if _ENDS_AT.get() <= ends_at else ends_at


class CallDeadline:
    """An async context manager: what runs inside ends within ``seconds``.

    Inside a deadline that ends sooner (the router's bound on the attempt), it arms no
    timer: that deadline ends the call first.

    :param backend: the backend's name, for the error.
    :param seconds: the deadline, from entering.
    :param what: what is awaited, for the error.
    :raises BackendTimeoutError: ``no <what> within <seconds>s`` when the deadline passes.
    """

    __slots__ = ("_backend", "_seconds", "_timeout", "_token", "_what")

    def __init__(self, backend: str, seconds: float, what: str = "answer") -> None:
        self._backend = backend
        self._seconds = seconds
        self._what = what
        self._timeout: AbstractAsyncContextManager[None] | None = None
        self._token: Token[float] | None = None

    async def __aenter__(self) -> CallDeadline:
        ends_at = _own_end(self._seconds)  # the deadline counts from here
        if ends_at is None:
            return self
        self._token = _ENDS_AT.set(ends_at)
        self._timeout = timeout(self._seconds)
        await self._timeout.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._timeout is None:
            return  # an enclosing deadline kept it
        assert self._token is not None
        _ENDS_AT.reset(self._token)
        try:
            await self._timeout.__aexit__(exc_type, exc, tb)
        except TimeoutError:
            raise BackendTimeoutError(
                f"no {self._what} within {self._seconds:g}s", self._backend, True
            ) from None


class StreamClock:
    """The time one stream may still wait on its provider.

    :param backend: the backend's name, for the errors.
    :param settings: its ``timeout``, ``stream_idle_timeout`` and ``stream_timeout``.
    """

    __slots__ = ("_backend", "_first", "_idle", "_progressed", "_quiet", "_total", "_waited")

    def __init__(self, backend: str, settings: BackendSettings) -> None:
        self._backend = backend
        self._first = settings.timeout
        self._idle = settings.stream_idle_timeout
        self._total = settings.stream_timeout
        self._waited = 0.0  # seconds spent waiting on the provider in all
        self._quiet = 0.0  # of which since the last meaningful event
        self._progressed = False

    def progressed(self) -> None:
        """A meaningful event arrived: the idle time starts again."""
        self._quiet = 0.0
        self._progressed = True

    async def wait(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` (the next read from the provider) within what is left.

        :raises BackendTimeoutError: when the wait for the first meaningful event, the
            idle time or the stream's total time runs out.
        """
        quiet_limit = self._idle if self._progressed else self._first
        quiet_left = quiet_limit - self._quiet
        total_left = self._total - self._waited
        left = min(quiet_left, total_left)
        if left <= 0:
            close = getattr(awaitable, "close", None)
            if close is not None:
                close()  # a coroutine that will never run
            raise self._expired(quiet_left <= total_left, quiet_limit)
        started = time.perf_counter()
        try:
            if _own_end(left) is None:  # the router's bound on the first chunk ends sooner
                return await awaitable
            async with timeout(left):
                return await awaitable
        except TimeoutError:
            raise self._expired(quiet_left <= total_left, quiet_limit) from None
        finally:
            spent = time.perf_counter() - started
            self._waited += spent
            self._quiet += spent

    def _expired(self, quiet: bool, quiet_limit: float) -> BackendTimeoutError:
        if not quiet:
            message = f"the stream took longer than stream_timeout ({self._total:g}s)"
        elif self._progressed:
            message = f"no stream event within stream_idle_timeout ({quiet_limit:g}s)"
        else:
            message = f"no stream event within {quiet_limit:g}s"
        return BackendTimeoutError(message, self._backend, True)
