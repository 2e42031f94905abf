"""The built-in scoring formula, as an internal ``trylast`` plugin.

A backend's score is a weighted sum of three parts, each scaled to 0..1; lower wins::

    score = cost · cost_weight + latency · latency_weight + availability · availability_weight

- ``cost = min(estimated cost of the request / COST_REFERENCE_EUR, 1)``: what the request
  is expected to cost on this backend (``backend.estimate_request_cost``), against one cent.
- ``latency = min(average recent latency / LATENCY_REFERENCE_MS, 1)``, against 10 s.
- ``availability = min(decayed failures / 10, 1)`` (``BackendStats.availability_score``):
  recent failures count fully, older ones less.

Scaling each part to the same range is what makes the weights (``RouterOptions``, or a
preset) mean what they say, and capping it keeps one extreme part from drowning the
others: a request that costs a cent or more, or a backend that answers in 10 s or more,
is as bad as it gets on that criterion.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from claudette.hookspecs import hookimpl

if TYPE_CHECKING:
    from claudette.backend import BaseBackend
    from claudette.state import BackendStats
    from claudette.types import ClaudetteRequest, RouterOptions

__all__ = ["COST_REFERENCE_EUR", "LATENCY_REFERENCE_MS", "ScoreParts", "score_parts"]

#: The estimated cost that scores 1.0.
COST_REFERENCE_EUR = 0.01
#: The average latency that scores 1.0.
LATENCY_REFERENCE_MS = 10_000.0


class ScoreParts(NamedTuple):
    """The three parts of the built-in score, each in 0..1, and their weighted sum."""

    cost: float
    latency: float
    availability: float
    total: float


def score_parts(
    backend: BaseBackend,
    request: ClaudetteRequest,
    stats: BackendStats,
    options: RouterOptions,
    now: float | None = None,
) -> ScoreParts:
    """Compute the built-in score of one backend for one request, part by part.

    :param now: the monotonic time the failures decay to (default: now).
    """
    cost = min(backend.estimate_request_cost(request) / COST_REFERENCE_EUR, 1.0)
    latency = min(stats.avg_latency_ms / LATENCY_REFERENCE_MS, 1.0)
    availability = stats.availability_score(now)
    total = (
        cost * options.cost_weight
        + latency * options.latency_weight
        + availability * options.availability_weight
    )
    return ScoreParts(cost, latency, availability, total)


class DefaultScoring:
    """The built-in scorer; any plugin implementing the hook runs before it."""

    @hookimpl(trylast=True)
    def claudette_score_backend(
        self,
        backend: BaseBackend,
        request: ClaudetteRequest,
        stats: BackendStats,
        options: RouterOptions,
    ) -> float:
        """The weighted sum of :func:`score_parts`."""
        return score_parts(backend, request, stats, options).total
