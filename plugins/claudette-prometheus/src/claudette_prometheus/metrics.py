"""The metrics: claudette's observer hooks counted with prometheus-client on one registry.

:class:`ClaudetteMetrics` owns every metric (the table is :data:`METRICS`) on the registry
it is given, and implements the observer hooks that update them:

- ``claudette_request_start`` / ``claudette_request_end``: requests in flight, requests by
  the backend that answered (``none`` when none did) and outcome, their duration, and a
  stream's time to its first chunk;
- ``claudette_after_attempt``: attempts by backend and outcome (``success`` or the error's
  class), their duration, fallbacks by the backend fallen back from, tokens and cost by
  backend and model, and the backend's breaker state;
- ``claudette_breaker_transition``: breaker moves by backend and the state entered.

Every metric works in prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``,
what ``claudette serve --workers N`` sets up): the breaker state is a gauge per backend and
state rather than an ``Enum`` (which that mode does not support), exposed under the same
name and labels; its samples take the most recent value any process set, and requests in
flight sum over the live processes.

:meth:`ClaudetteMetrics.exposition` renders the registry in Prometheus' text format: what
an application's own ``/metrics`` returns (and the gateway's, which uses this class).
Label values are backend names, models, outcomes and error class names: a bounded set,
so each labelled child is looked up in prometheus-client once and kept (the hooks are on
every request's path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from claudette import hookimpl
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from claudette import (
        BackendError,
        BaseBackend,
        ClaudetteRequest,
        ClaudetteResponse,
        RequestContext,
    )
    from prometheus_client import CollectorRegistry

__all__ = ["BREAKER_STATES", "CONTENT_TYPE", "DURATION_BUCKETS", "FIRST_CHUNK_BUCKETS", "METRICS", "ClaudetteMetrics"]

#: The content type of :meth:`ClaudetteMetrics.exposition`.
CONTENT_TYPE = CONTENT_TYPE_LATEST
#: The states of a circuit breaker, as the ``claudette_breaker_state`` metric lists them.
BREAKER_STATES = ("closed", "half_open", "open")
#: Seconds: LLM calls take from tens of milliseconds (a cached local model) to minutes.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
#: Seconds until a stream's first chunk.
FIRST_CHUNK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Label value of a request that no backend answered.
NO_BACKEND = "none"

#: Every metric (name without the namespace, type, labels, help).
METRICS = (
    ("requests", "counter", ("backend", "outcome"), "Requests routed, by the backend that answered (none: no backend did) and outcome (success, error, cancelled)."),
    ("requests_in_flight", "gauge", (), "Requests being routed now."),
    ("request_duration_seconds", "histogram", ("backend",), "Time from taking a request to its end, fallbacks included, by the backend that answered."),
    ("time_to_first_chunk_seconds", "histogram", ("backend",), "Time from taking a streamed request to its first chunk, fallbacks included."),
    ("attempts", "counter", ("backend", "outcome"), "Calls to a backend, by outcome (success, or the class of the error)."),
    ("attempt_duration_seconds", "histogram", ("backend",), "Duration of one call to a backend."),
    ("fallbacks", "counter", ("backend",), "Fallbacks to another backend, by the backend that failed."),
    ("breaker_state", "gauge", ("backend", "claudette_breaker_state"), "The state of each backend's circuit breaker: 1 for its current state, 0 for the others."),
    ("breaker_transitions", "counter", ("backend", "state"), "Circuit breaker moves, by the state entered."),
    ("tokens", "counter", ("backend", "model", "type"), "Tokens of answered calls, by type (input, output)."),
    ("cost_eur", "counter", ("backend", "model"), "What answered calls cost, in EUR."),
)


class ClaudetteMetrics:
    """claudette's observer hooks, recorded as Prometheus metrics on ``registry``.

    Register an instance with the plugin manager (``ClaudettePlugins(plugins=[...])``) to
    count on a registry of your own; the installed entry point ``prometheus`` counts on
    prometheus-client's default registry (:func:`claudette_prometheus.default_metrics`).

    :param registry: where the metrics are registered.
    :param namespace: the prefix of every metric name.
    :raises ValueError: when ``registry`` already has metrics of these names.
    """

    def __init__(self, registry: CollectorRegistry, *, namespace: str = "claudette") -> None:
        self.registry = registry
        self.namespace = namespace
        helps = {name: text for name, _, _, text in METRICS}
        labels = {name: names for name, _, names, _ in METRICS}

        def counter(name: str) -> Counter:
            return Counter(name, helps[name], labels[name], namespace=namespace, registry=registry)

        def histogram(name: str, buckets: tuple[float, ...]) -> Histogram:
            return Histogram(
                name, helps[name], labels[name], namespace=namespace, registry=registry,
                buckets=buckets,
            )

        self.requests = counter("requests")
        # Across processes: the sum over the live ones.
        self.requests_in_flight = Gauge(
            "requests_in_flight", helps["requests_in_flight"], namespace=namespace, registry=registry,
            multiprocess_mode="livesum",
        )
        self.request_duration = histogram("request_duration_seconds", DURATION_BUCKETS)
        self.time_to_first_chunk = histogram("time_to_first_chunk_seconds", FIRST_CHUNK_BUCKETS)
        self.attempts = counter("attempts")
        self.attempt_duration = histogram("attempt_duration_seconds", DURATION_BUCKETS)
        self.fallbacks = counter("fallbacks")
        # A state set as a gauge per (backend, state): the state label is named like the
        # metric, as prometheus-client's Enum names it. Across processes each sample is the
        # value set last: with shared state (Redis) every worker sees the same breaker, and
        # the latest move seen is its state; without it, the state of the worker whose
        # breaker moved last (breaker_transitions counts every worker's moves).
        self.breaker_state = Gauge(
            "breaker_state", helps["breaker_state"], ("backend", f"{namespace}_breaker_state"),
            namespace=namespace, registry=registry, multiprocess_mode="mostrecent",
        )
        self.breaker_transitions = counter("breaker_transitions")
        self.tokens = counter("tokens")
        self.cost_eur = counter("cost_eur")
        # (metric, label values) -> the labelled child; backend -> the breaker state set.
        self._children: dict[tuple[Any, ...], Any] = {}
        self._breaker_states: dict[str, str] = {}

    def _child(self, metric: Any, *values: str) -> Any:
        """``metric.labels(*values)``, looked up once."""
        key = (metric, *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def _set_breaker_state(self, backend: str, state: str) -> None:
        if self._breaker_states.get(backend) != state:
            for name in BREAKER_STATES:
                self._child(self.breaker_state, backend, name).set(1 if name == state else 0)
            self._breaker_states[backend] = state

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format (serve it with :data:`CONTENT_TYPE`)."""
        return generate_latest(self.registry)

    # -- the hooks ---------------------------------------------------------------------------

    @hookimpl
    def claudette_request_start(self) -> None:
        """Count the request in flight."""
        self.requests_in_flight.inc()

    @hookimpl
    def claudette_request_end(
        self, context: RequestContext, response: ClaudetteResponse | None
    ) -> None:
        """Count the request by the backend that answered and its outcome."""
        self.requests_in_flight.dec()
        backend = response.backend_used if response is not None else NO_BACKEND
        self._child(self.requests, backend, context.outcome or "error").inc()
        self._child(self.request_duration, backend).observe(context.elapsed_ms / 1000.0)
        if context.first_chunk_ms is not None and context.backend is not None:
            self._child(self.time_to_first_chunk, context.backend).observe(
                context.first_chunk_ms / 1000.0
            )

    @hookimpl
    def claudette_after_attempt(
        self,
        backend: BaseBackend,
        request: ClaudetteRequest,
        response: ClaudetteResponse | None,
        error: BackendError | None,
        latency_ms: float,
        context: RequestContext,
    ) -> None:
        """Count the attempt, its fallback, its tokens and cost; note the breaker's state."""
        name = backend.name
        outcome = "success" if error is None else type(error).__name__
        self._child(self.attempts, name, outcome).inc()
        self._child(self.attempt_duration, name).observe(latency_ms / 1000.0)
        if context.fallback_from is not None:
            self._child(self.fallbacks, context.fallback_from).inc()
        if response is not None:
            model = response.model or request.options.model or backend.settings.model or ""
            self._child(self.tokens, name, model, "input").inc(response.tokens_input)
            self._child(self.tokens, name, model, "output").inc(response.tokens_output)
            self._child(self.cost_eur, name, model).inc(response.cost_eur)
        if context.breaker_state is not None:
            self._set_breaker_state(name, context.breaker_state)

    @hookimpl
    def claudette_breaker_transition(self, backend_name: str, new_state: str) -> None:
        """Count the move and set the breaker's state."""
        self._child(self.breaker_transitions, backend_name, new_state).inc()
        self._set_breaker_state(backend_name, new_state)
