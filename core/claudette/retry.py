"""Retry with exponential backoff and jitter, per backend, before the router falls back.

Off by default (``BackendSettings.max_retries = 0``): the fallback chain is the first line
of retry, and the circuit breaker must see every failure. With ``max_retries = n`` a
retryable failure is retried on the same backend up to ``n`` times, each failure still
counted by its breaker; a retry is skipped (and the router falls back at once) when the
breaker no longer lets a call through, the backend is out of rate limit, or the wait
would exceed what is left of ``RouterOptions.max_retry_wait`` for the request.

The delays are the OpenAI SDK's: ``min(0.5 · 2ⁿ, 8)`` seconds times a jitter factor
between 0.75 and 1.0; a provider's ``retry_after`` of at most a minute is honoured as is.
"""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["INITIAL_RETRY_DELAY", "MAX_RETRY_DELAY", "MAX_SAME_BACKEND_WAIT", "backoff_delay"]

#: The first retry waits about this many seconds.
INITIAL_RETRY_DELAY = 0.5
#: No computed delay is longer.
MAX_RETRY_DELAY = 8.0
#: A provider's ``retry_after`` up to this many seconds is waited out before retrying the
#: same backend; a longer one sends the request to the next backend instead (the
#: backend's cool-down, capped by :data:`claudette.http.MAX_RETRY_AFTER`, still applies).
MAX_SAME_BACKEND_WAIT = 60.0


def backoff_delay(
    retry: int,
    retry_after: float | None = None,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``retry`` (0 for the first).

    :param retry_after: the provider's requested delay; honoured when 0 < it <= 60 s.
    :param rng: a uniform [0, 1) source (injectable for tests).
    """
    if retry_after is not None and 0 < retry_after <= MAX_SAME_BACKEND_WAIT:
        return float(retry_after)
    delay = min(INITIAL_RETRY_DELAY * 2.0**retry, MAX_RETRY_DELAY)
    return delay * (1.0 - 0.25 * rng())
