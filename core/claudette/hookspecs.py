"""The hooks a claudette plugin can implement.

Hooks are called with keyword arguments only, so a hook can gain arguments without
breaking existing implementations. Implement one with the :data:`hookimpl` marker::

    from claudette import hookimpl

    @hookimpl
    def claudette_register_backends(registry):
        registry.register("mine", MyBackend, defaults=BackendSettings(model="m-1"))

Wrappers (``@hookimpl(wrapper=True)`` or ``hookwrapper=True``) work on the firstresult
hooks, ``claudette_score_backend`` and ``claudette_breaker_policy``: pluggy calls them
around the other implementations. The other hooks are called one plugin at a time (to
isolate each plugin's errors, or to chain the results), so a wrapper there is refused with
a ``PluginError`` naming the plugin when it is registered.

The reference in ``docs/hooks.md`` is checked against these docstrings by a test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from claudette.backend import BaseBackend
    from claudette.errors import BackendError
    from claudette.plugins import BackendPluginRegistry
    from claudette.request_context import RequestContext
    from claudette.state import BackendStats
    from claudette.types import BreakerPolicy, ClaudetteRequest, ClaudetteResponse, RouterOptions

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

#: The pluggy project name of claudette's hooks.
PROJECT_NAME = "claudette"

#: Marks a function as the specification of a hook (claudette's own use).
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Marks a function in a plugin as an implementation of a claudette hook.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def claudette_register_backends(registry: BackendPluginRegistry) -> None:
    """Register backend classes by name, with the defaults their provider needs.

    Called once per plugin when the plugin manager loads, before any backend is created.
    Must not do network or other slow I/O: it runs at start-up. A plugin whose
    implementation raises is reported as failed and dropped; the others still register.
    Cannot be a wrapper.

    :param registry: call ``registry.register(name, cls, defaults=BackendSettings(...))``
        for each backend class the plugin provides.
    """


@hookspec(firstresult=True)
def claudette_score_backend(
    backend: BaseBackend,
    request: ClaudetteRequest,
    stats: BackendStats,
    options: RouterOptions,
) -> float | None:
    """Score a usable backend for a request; the lowest score wins.

    Called by ``BackendRouter.select_backend`` once for each usable backend (enabled,
    healthy, breaker not OPEN, not cooling down) when there is a choice to make: a lone
    usable backend wins without a score (``explain`` still scores it). Stops at the first non-None result. The
    built-in formula (cost, latency and availability, weighted by ``options``; see
    ``claudette.scoring``) is registered ``trylast``, so an installed plugin that returns a
    number overrides it, and one that returns None defers to it; a wrapper can adjust the
    score the others decided. Ties are broken by priority, then name.

    :param backend: the backend to score.
    :param request: the request being routed.
    :param stats: what the router has observed of the backend (latency, failures ...).
    :param options: the router's options, including the scoring weights.
    :return: a score (lower is better), or None to let the next implementation decide.
    """


@hookspec(firstresult=True)
def claudette_breaker_policy(backend: BaseBackend) -> BreakerPolicy | None:
    """Choose the circuit-breaker policy of a backend.

    Called once per backend when it is registered with a router. Stops at the first
    non-None result; the built-in default (the router's ``RouterOptions.breaker``, by
    default 10 failures in a row or a 60 % failure rate, open 5 s growing to 5 minutes on
    repeated trips, one half-open probe) is registered ``trylast``.

    :param backend: the backend being registered.
    :return: a ``BreakerPolicy``, or None to let the next implementation decide.
    """


@hookspec
def claudette_after_attempt(
    backend: BaseBackend,
    request: ClaudetteRequest,
    response: ClaudetteResponse | None,
    error: BackendError | None,
    latency_ms: float,
    context: RequestContext,
) -> None:
    """Observe one finished attempt to call a backend (for metrics, tracing, logs).

    Called after every attempt the router makes, successful or not, before it falls back
    or returns. Cancelled attempts are not reported. Every implementation is called; an
    exception raised here is logged and ignored, so an observer can never fail a request.
    Cannot be a wrapper.

    :param backend: the backend that was called.
    :param request: the request that was sent.
    :param response: the answer on success (its ``cost_eur`` is what the call cost), else None.
    :param error: the error on failure, else None.
    :param latency_ms: how long the attempt took, in milliseconds.
    :param context: the request the attempt belongs to: its ``attempt`` number,
        ``fallback_from`` and ``breaker_state`` describe this attempt (a provider batch
        gets a context of its own).
    """


@hookspec
def claudette_breaker_transition(
    backend_name: str, old_state: str, new_state: str, context: RequestContext | None
) -> None:
    """Observe a circuit breaker changing state.

    Called when a breaker moves between ``closed``, ``open`` and ``half_open``. Every
    implementation is called; exceptions are logged and ignored. Cannot be a wrapper.

    :param backend_name: the backend whose breaker changed.
    :param old_state: the state it left.
    :param new_state: the state it entered.
    :param context: the request whose attempt moved it (before that attempt's
        ``claudette_after_attempt``); None when time moved it (``open`` to ``half_open``)
        or an operator did.
    """


@hookspec
def claudette_request_start(context: RequestContext) -> None:
    """Observe the router taking a request (for metrics, tracing, logs).

    Called once per request the router routes to its backends (``route_request`` unless
    the response cache answers, and ``stream``), before a backend is chosen. Every
    implementation is called; an exception raised here is logged and ignored. Cannot be
    a wrapper.

    :param context: the request; keep this observer's own data in ``context.state``.
    """


@hookspec
def claudette_request_end(
    context: RequestContext, response: ClaudetteResponse | None, error: BaseException | None
) -> None:
    """Observe the end of a request the router took.

    Called exactly once for each ``claudette_request_start``: when the answer is ready
    (for a stream, when its last chunk is ready), when the request fails, or when the
    caller cancels it or stops reading the stream. ``context.outcome`` says which
    (``success``, ``error``, ``cancelled``). Every implementation is called; an exception
    raised here is logged and ignored. Cannot be a wrapper.

    :param context: the request, as at its start, with the attempts made since.
    :param response: the answer on success (``metadata["failed_backends"]`` names the
        backends that failed before it), else None.
    :param error: the exception that ended the request on failure, else None.
    """


@hookspec
def claudette_preprocess_request(
    request: ClaudetteRequest, backend: BaseBackend
) -> ClaudetteRequest | None:
    """Rewrite a request just before it is sent to the chosen backend.

    Called once per attempt, after selection and before the call (a fallback to another
    backend calls it again with the caller's original request). Every implementation is
    called, in hook order (``tryfirst`` first, then the most recently registered, then
    ``trylast``); each receives the request as the previous one returned it. The response
    cache and selection use the original request; exceptions propagate to the caller.
    Cannot be a wrapper.

    :param request: the request as the caller sent it, or as an earlier hook rewrote it.
    :param backend: the backend that will receive it.
    :return: the request to send instead, or None to leave it unchanged.
    """


@hookspec
def claudette_postprocess_response(
    request: ClaudetteRequest, response: ClaudetteResponse
) -> ClaudetteResponse | None:
    """Rewrite a successful answer before the router returns (and caches) it.

    Called once per answered ``route_request`` (not for cache hits, which return the
    already post-processed answer, and not for streams). Every implementation is called,
    in hook order (``tryfirst`` first, then the most recently registered, then
    ``trylast``); each receives the response as the previous one returned it.
    Exceptions propagate to the caller. Cannot be a wrapper.

    :param request: the request as the caller sent it.
    :param response: the backend's answer, or as an earlier hook rewrote it.
    :return: the response to return instead, or None to leave it unchanged.
    """
