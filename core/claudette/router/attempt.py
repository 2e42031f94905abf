"""One attempt: one call to one backend, and everything the router accounts for it.

Sending, streaming and a provider batch each run their call inside one::

    async with router.attempt(backend, request) as attempt:
        response = await attempt.within_deadline(backend.send(request), "answer")
        attempt.succeeded(response)

- entering counts the call: against the request gates (rate limit, budget reservation),
  in the backend's in-flight count and in the router's attempts, and in the request's
  :class:`~claudette.request_context.RequestContext` (its attempt number and backend);
- :meth:`Attempt.within_deadline` bounds a wait by the backend's ``timeout``; past it the
  wait ends in :class:`~claudette.errors.BackendTimeoutError`;
- :meth:`Attempt.succeeded` records an answer: the breaker's success, the latency, the
  cost and tokens, and the ``claudette_after_attempt`` observers;
- leaving with an exception records a failure: the exception becomes a
  :class:`~claudette.errors.BackendError` (through the one translation,
  :func:`claudette.http.error_from_exception`), the breaker and statistics count it when
  the policy says it is the provider's fault, a ``retry_after`` starts a cool-down, a
  misconfiguration (a wrong key, a missing model) keeps the backend out for
  :data:`~claudette.misconfig.MISCONFIGURED_HOLD` seconds, and the observers see it;
- leaving cancelled (the caller's task is cancelled, or it closes a stream early), or
  without an answer, is neither a success nor a failure: the breaker's probe slot is
  released.

The caller has acquired the backend's breaker before the attempt; the attempt settles it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

from claudette.deadlines import CallDeadline
from claudette.request_context import RequestContext, recording

if TYPE_CHECKING:
    from types import TracebackType

    from claudette.backend import BaseBackend
    from claudette.breaker import CircuitBreaker
    from claudette.errors import BackendError
    from claudette.plugins import ClaudettePlugins
    from claudette.router.counters import RouterCounters
    from claudette.router.gates import GateTicket, RequestGates
    from claudette.types import ClaudetteRequest, ClaudetteResponse

__all__ = ["Attempt"]

T = TypeVar("T")


class Attempt:
    """One accounted call to ``backend``, as an async context manager.

    :param backend: the backend called.
    :param breaker: its circuit breaker, already acquired for this call.
    :param request: the request sent (the first one of a batch).
    :param gates: the router's rate limits and budget.
    :param plugins: whose ``claudette_after_attempt`` observers see the outcome.
    :param counters: the router's totals.
    :param context: the request this attempt belongs to; one of its own when omitted (a
        provider batch).
    """

    __slots__ = (
        "_counters",
        "_gates",
        "_plugins",
        "_started",
        "_ticket",
        "backend",
        "breaker",
        "context",
        "request",
        "response",
    )

    def __init__(
        self,
        backend: BaseBackend,
        breaker: CircuitBreaker,
        request: ClaudetteRequest,
        *,
        gates: RequestGates,
        plugins: ClaudettePlugins,
        counters: RouterCounters,
        context: RequestContext | None = None,
    ) -> None:
        self.backend = backend
        self.context = context if context is not None else RequestContext(request)
        self.breaker = breaker
        self.request = request
        #: The (last) answer recorded by :meth:`succeeded`; None before.
        self.response: ClaudetteResponse | None = None
        self._gates = gates
        self._plugins = plugins
        self._counters = counters
        self._ticket: GateTicket | None = None
        self._started = 0.0

    async def __aenter__(self) -> Attempt:
        self._ticket = self._gates.acquire(self.backend, self.request)
        self.backend.stats.in_flight += 1
        self._counters.attempts += 1
        context = self.context
        context.attempt += 1
        context.backend = self.backend.name
        self._started = time.perf_counter()
        return self

    async def within_deadline(self, awaitable: Awaitable[T], what: str) -> T:
        """Await ``awaitable`` for at most the backend's ``timeout`` seconds.

        :param what: what is awaited, for the error (``"answer"``, ``"first chunk"``).
        :raises BackendTimeoutError: ``no <what> within <timeout>s`` past the deadline.
        """
        async with CallDeadline(self.backend.name, self.backend.settings.timeout, what):
            return await awaitable

    def succeeded(self, response: ClaudetteResponse, request: ClaudetteRequest | None = None) -> None:
        """Record an answer (``request``: which request of a batch it answers)."""
        latency_ms = (time.perf_counter() - self._started) * 1000.0
        self.response = response
        context = self.context
        with recording(context):
            self.breaker.record_success()
        context.breaker_state = self.breaker.state.value
        self.backend.stats.record_success(latency_ms)
        c = self._counters
        c.cost_eur += response.cost_eur
        c.tokens_input += response.tokens_input
        c.tokens_output += response.tokens_output
        self._plugins.after_attempt(
            self.backend,
            request if request is not None else self.request,
            response,
            None,
            latency_ms,
            context,
        )
        context.fallback_from = context.fallback_reason = None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.backend.stats.in_flight -= 1
        assert self._ticket is not None
        self._gates.settle(self._ticket, self.response)
        if self.response is not None:
            return  # answered: what fails afterwards (closing the stream) is not the backend's
        if not isinstance(exc, Exception):
            # Neither an answer nor a failure: cancelled, the stream's reader left, or a
            # batch whose every request failed on its own.
            self.breaker.release()
            return
        from claudette.http import error_from_exception

        error = error_from_exception(self.backend.name, exc)
        self._record_failure(error)
        if error is not exc:
            raise error from exc

    def _record_failure(self, error: BackendError) -> None:
        latency_ms = (time.perf_counter() - self._started) * 1000.0
        stats = self.backend.stats
        context = self.context
        with recording(context):
            counted = self.breaker.record_error(error)
        context.breaker_state = self.breaker.state.value
        if counted:
            stats.record_failure()
        else:
            stats.record_outcome_without_fault()
        if error.retry_after:
            stats.start_cooldown(error.retry_after)
        from claudette.misconfig import MISCONFIGURED_HOLD, backend_at_fault

        if backend_at_fault(error, self.request):
            stats.mark_misconfigured(str(error), MISCONFIGURED_HOLD)
        self._plugins.after_attempt(self.backend, self.request, None, error, latency_ms, context)
        context.fallback_from = context.fallback_reason = None
