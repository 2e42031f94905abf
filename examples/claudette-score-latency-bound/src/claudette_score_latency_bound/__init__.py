"""A claudette scoring plugin: route to the cheapest backend that is fast enough.

A backend is *fast enough* when the average latency the router observed for it is at most
the bound (2000 ms by default; ``$CLAUDETTE_LATENCY_BOUND_MS``, or per request with
``ClaudetteRequest(metadata={"latency_bound_ms": 500})``). Among those, the lowest
estimated cost of the request wins. Backends that are too slow still get a score, after
every fast-enough one and ordered by latency, so the router can fall back to them.

Installing the package is all it takes: its ``claudette.backends`` entry point
``latency-bound`` names :data:`plugin`, and its ``claudette_score_backend`` runs before the
built-in formula (which is ``trylast``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from claudette import hookimpl

if TYPE_CHECKING:
    from claudette import BackendStats, BaseBackend, ClaudetteRequest, RouterOptions

__all__ = ["BOUND_ENV", "DEFAULT_BOUND_MS", "SLOW_PENALTY", "LatencyBoundScoring", "plugin"]

#: Environment variable holding the latency bound in milliseconds.
BOUND_ENV = "CLAUDETTE_LATENCY_BOUND_MS"
#: The bound when neither the environment nor the request sets one.
DEFAULT_BOUND_MS = 2000.0
#: Added to the score of a backend that is too slow, so that it ranks after every fast one.
SLOW_PENALTY = 1_000_000.0


class LatencyBoundScoring:
    """Scores a backend by its estimated cost if it meets the latency bound.

    :param bound_ms: the bound in milliseconds; None reads ``$CLAUDETTE_LATENCY_BOUND_MS``
        at each call (falling back to :data:`DEFAULT_BOUND_MS`).
    """

    def __init__(self, bound_ms: float | None = None) -> None:
        self._bound_ms = bound_ms

    @property
    def bound_ms(self) -> float:
        """The bound in force now."""
        if self._bound_ms is not None:
            return self._bound_ms
        raw = os.environ.get(BOUND_ENV)
        return float(raw) if raw else DEFAULT_BOUND_MS

    @hookimpl
    def claudette_score_backend(
        self,
        backend: BaseBackend,
        request: ClaudetteRequest,
        stats: BackendStats,
        options: RouterOptions,
    ) -> float:
        """The request's estimated cost in EUR; too slow: a penalty plus the latency in s."""
        bound = float(request.metadata.get("latency_bound_ms", self.bound_ms))
        latency = stats.avg_latency_ms
        if latency <= bound:
            return backend.estimate_request_cost(request)
        return SLOW_PENALTY + latency / 1000.0


#: The instance the entry point registers.
plugin = LatencyBoundScoring()
