"""Observation: what the router tells observer plugins and its log about each request.

``route_request`` and ``stream`` open and close every request they route through one
:class:`Observation`::

    context = observation.start(request, stream=False)
    try:
        ...                                    # attempts: Attempt keeps the context current
    except BaseException as error:
        observation.end(context, None, error)
        raise
    observation.end(context, response, None)

- :meth:`Observation.start` makes the request's
  :class:`~claudette.request_context.RequestContext` and calls the
  ``claudette_request_start`` observers;
- :meth:`Observation.end` settles the outcome (``success``, ``error``, ``cancelled``)
  exactly once, logs how the request was routed when it fell back, and calls the
  ``claudette_request_end`` observers;
- :meth:`Observation.breaker_moved` is every breaker's transition callback: it logs the
  move and calls the ``claudette_breaker_transition`` observers with the request whose
  attempt moved it.

With no request observer installed, a request costs one context object and no hook call.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from claudette._log import logger
from claudette.request_context import RequestContext, current

if TYPE_CHECKING:
    from claudette.breaker import CircuitBreaker, CircuitBreakerState
    from claudette.plugins import ClaudettePlugins
    from claudette.types import ClaudetteRequest, ClaudetteResponse

__all__ = ["Observation"]


class Observation:
    """The router's side of the observer hooks.

    :param plugins: whose observers are called.
    """

    __slots__ = ("plugins",)

    def __init__(self, plugins: ClaudettePlugins) -> None:
        self.plugins = plugins

    def start(self, request: ClaudetteRequest, *, stream: bool) -> RequestContext:
        """The context of a request the router takes now; its observers are told."""
        context = RequestContext(request, stream=stream)
        if self.plugins.has_request_observers:
            self.plugins.request_start(context)
        return context

    def end(
        self,
        context: RequestContext,
        response: ClaudetteResponse | None,
        error: BaseException | None,
    ) -> None:
        """The request ended with ``response`` or ``error`` (neither: the caller left).

        Only the first call for a context counts: a stream ends when its last chunk is
        ready, and its reader may still leave before taking it.
        """
        if context.outcome is not None:
            return
        if response is not None:
            context.outcome = "success"
        elif error is None or isinstance(error, (asyncio.CancelledError, GeneratorExit)):
            context.outcome = "cancelled"
            error = None
        else:
            context.outcome = "error"
        if context.failures and response is not None:
            logger.info(
                "%s answered after %s",
                response.backend_used,
                "; ".join(f"{name} failed: {why}" for name, why in context.failures.items()),
            )
        if self.plugins.has_request_observers:
            self.plugins.request_end(context, response, error)

    def breaker_moved(
        self, breaker: CircuitBreaker, old: CircuitBreakerState, new: CircuitBreakerState
    ) -> None:
        """A breaker changed state: log it and tell the transition observers."""
        logger.info("circuit breaker of %r: %s -> %s", breaker.name, old.value, new.value)
        self.plugins.breaker_transition(breaker.name, old.value, new.value, current())
