"""The router's running totals (``BackendRouter.counters``, ``stats()["router"]``)."""

from __future__ import annotations

import attrs

__all__ = ["RouterCounters"]


@attrs.define
class RouterCounters:
    """Totals since the router started (one process's view).

    :param requests: requests routed (``route_request`` and ``stream`` calls).
    :param successes: requests answered.
    :param failures: requests that ended in an error.
    :param attempts: backend calls made (a request with fallbacks makes several).
    :param fallbacks: attempts made after an earlier attempt of the same request failed.
    :param cost_eur: money spent on answered attempts.
    :param tokens_input: prompt tokens of answered attempts.
    :param tokens_output: generated tokens of answered attempts.
    :param retries: attempts repeated on the same backend (``max_retries``).
    :param cache_hits: requests answered from the response cache.
    :param panic_probes: requests sent to a backend whose breaker was open, as its probe,
        because every backend left was open.
    """

    requests: int = 0
    successes: int = 0
    failures: int = 0
    attempts: int = 0
    fallbacks: int = 0
    cost_eur: float = 0.0
    tokens_input: int = 0
    tokens_output: int = 0
    retries: int = 0
    cache_hits: int = 0
    panic_probes: int = 0
