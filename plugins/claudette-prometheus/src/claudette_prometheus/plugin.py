"""The entry point ``prometheus``: counts on prometheus-client's default registry.

The metrics are registered there on the first hook call (:func:`default_metrics`), not
when the plugin is loaded, so loading it registers nothing an application did not use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from claudette import hookimpl

from claudette_prometheus import default_metrics

if TYPE_CHECKING:
    from claudette import (
        BackendError,
        BaseBackend,
        ClaudetteRequest,
        ClaudetteResponse,
        RequestContext,
    )

__all__ = [
    "claudette_after_attempt",
    "claudette_breaker_transition",
    "claudette_request_end",
    "claudette_request_start",
]


@hookimpl
def claudette_request_start() -> None:
    """See :meth:`ClaudetteMetrics.claudette_request_start`."""
    default_metrics().claudette_request_start()


@hookimpl
def claudette_request_end(context: RequestContext, response: ClaudetteResponse | None) -> None:
    """See :meth:`ClaudetteMetrics.claudette_request_end`."""
    default_metrics().claudette_request_end(context, response)


@hookimpl
def claudette_after_attempt(
    backend: BaseBackend,
    request: ClaudetteRequest,
    response: ClaudetteResponse | None,
    error: BackendError | None,
    latency_ms: float,
    context: RequestContext,
) -> None:
    """See :meth:`ClaudetteMetrics.claudette_after_attempt`."""
    default_metrics().claudette_after_attempt(backend, request, response, error, latency_ms, context)


@hookimpl
def claudette_breaker_transition(backend_name: str, new_state: str) -> None:
    """See :meth:`ClaudetteMetrics.claudette_breaker_transition`."""
    default_metrics().claudette_breaker_transition(backend_name, new_state)
