"""The default scoring formula of the seed document, as an internal ``trylast`` plugin.

``score = cost_score·w_cost + latency_score·w_latency + availability_score·w_availability``
where ``cost_score = min(estimated cost / €0.01, 1)``, ``latency_score = min(average
latency / 10 s, 1)`` and ``availability_score = min(decayed failures / 10, 1)``. Lower wins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from claudette.backend import CHARS_PER_TOKEN, DEFAULT_OUTPUT_TOKENS, BaseBackend
from claudette.hookspecs import hookimpl

if TYPE_CHECKING:
    from claudette.state import BackendStats
    from claudette.types import ClaudetteRequest, RouterOptions

__all__ = ["COST_REFERENCE_EUR", "LATENCY_REFERENCE_MS", "ScoreParts", "score_parts"]

#: The estimated cost that scores 1.0.
COST_REFERENCE_EUR = 0.01
#: The average latency that scores 1.0.
LATENCY_REFERENCE_MS = 10_000.0


class ScoreParts(NamedTuple):
    """The three components of the seed score, each in 0..1, and their weighted sum."""

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
    """Compute the seed formula's components for one backend and request."""
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
        """The seed formula's weighted sum (the same sum as :func:`score_parts`, built
        without its tuple: this runs once per backend per routing decision)."""
        cls = type(backend)
        if cls.estimate_request_cost is _BASE_ESTIMATE and cls.cost_for_usage is _BASE_COST:
            # BaseBackend's own pricing, inlined (the same arithmetic, in the same order).
            s = backend.settings
            chars = len(request.prompt) if request.prompt is not None else 0
            for message in request.messages:  # request.text_length, without the call
                chars += len(message.content)
            tokens_in = -(-chars // CHARS_PER_TOKEN)
            tokens_out = request.options.max_tokens or s.max_tokens or DEFAULT_OUTPUT_TOKENS
            price_in = s.input_cost_per_token
            if price_in is None:
                price_in = s.cost_per_token or 0.0
            price_out = s.output_cost_per_token
            if price_out is None:
                price_out = s.cost_per_token or 0.0
            cost = (tokens_in * price_in + tokens_out * price_out) / COST_REFERENCE_EUR
        else:  # a backend with its own pricing
            cost = backend.estimate_request_cost(request) / COST_REFERENCE_EUR
        window = stats._latencies  # stats.avg_latency_ms, without the call
        latency = stats._latency_sum / len(window) / LATENCY_REFERENCE_MS if window else 0.0
        # No failure counted: the availability score is 0 without asking for it.
        availability = stats.availability_score() if stats.failures else 0.0
        return (
            (cost if cost < 1.0 else 1.0) * options.cost_weight
            + (latency if latency < 1.0 else 1.0) * options.latency_weight
            + availability * options.availability_weight
        )


_BASE_ESTIMATE = BaseBackend.estimate_request_cost
_BASE_COST = BaseBackend.cost_for_usage
