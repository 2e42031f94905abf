"""Per-backend mutable state, behind one small store interface.

The router keeps everything it learns about a backend — latency window, failure count
and time, in-flight count, rate-limit cool-down, health, breaker — in a
:class:`StateStore`. The default :class:`InMemoryStateStore` serves one process; a shared
store (e.g. on Redis) implements the same interface so that many processes share one view.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from claudette.breaker import CircuitBreaker
    from claudette.budget import SpendLedger
    from claudette.cache import ResponseCache
    from claudette.ratelimit import RateLimiter
    from claudette.types import BreakerPolicy, BudgetOptions, CacheOptions

__all__ = ["BackendStats", "InMemoryStateStore", "StateStore"]

#: After this many seconds without a failure, the failure count starts to decay.
FAILURE_DECAY_DELAY = 60.0
#: The decay runs linearly over this many seconds ...
FAILURE_DECAY_SPAN = 3600.0
#: ... down to this fraction of the count, never lower.
FAILURE_DECAY_FLOOR = 0.1
#: The failure count that scores 1.0 (fully unavailable) in the default scoring formula.
FAILURE_REFERENCE = 10.0


class BackendStats:
    """What the router has observed of one backend; every window is bounded.

    :param window: how many recent latencies to keep.
    """

    __slots__ = (
        "_latencies",
        "_latency_sum",
        "calls",
        "cooldown_until",
        "failures",
        "health_checked_at",
        "healthy",
        "in_flight",
        "last_failure_at",
        "last_success_at",
        "misconfigured",
        "misconfigured_until",
        "rate_limits",
        "successes",
    )

    def __init__(self, window: int = 100) -> None:
        self._latencies: deque[float] = deque(maxlen=window)
        self._latency_sum = 0.0
        #: Attempts finished (success or failure), cancelled ones excluded.
        self.calls = 0
        self.successes = 0
        #: Failures counted against the provider (never reset; they decay in the score).
        self.failures = 0
        #: ``time.monotonic()`` of the last failure, None before any.
        self.last_failure_at: float | None = None
        #: ``time.monotonic()`` of the last answer, None before any (real traffic is the
        #: freshest health signal: a backend that answered recently needs no check).
        self.last_success_at: float | None = None
        #: Why the backend's configuration is wrong (its key, its model), None when it is
        #: not known to be; the router keeps it out until ``misconfigured_until``.
        self.misconfigured: str | None = None
        self.misconfigured_until = 0.0
        #: Attempts under way now.
        self.in_flight = 0
        #: ``time.monotonic()`` before which the backend must not be called (retry-after).
        self.cooldown_until = 0.0
        #: The last health check's result (None: never checked) and when it ran.
        self.healthy: bool | None = None
        self.health_checked_at: float | None = None
        #: The backend's rpm/tpm limiter (set by the router when the backend has limits).
        self.rate_limits: RateLimiter | None = None

    def record_latency(self, latency_ms: float) -> None:
        """Add one latency to the window, dropping the oldest when full (O(1))."""
        window = self._latencies
        if len(window) == window.maxlen:
            self._latency_sum -= window[0]
        window.append(latency_ms)
        self._latency_sum += latency_ms

    def record_success(self, latency_ms: float, now: float | None = None) -> None:
        """Count a successful call and its latency."""
        self.calls += 1
        self.successes += 1
        self.last_success_at = time.monotonic() if now is None else now
        if self.misconfigured is not None:
            self.misconfigured = None
            self.misconfigured_until = 0.0
        window = self._latencies  # record_latency, inlined: once per request
        if len(window) == window.maxlen:
            self._latency_sum -= window[0]
        window.append(latency_ms)
        self._latency_sum += latency_ms

    def record_failure(self, now: float | None = None) -> None:
        """Count a failure that was the provider's fault."""
        self.calls += 1
        self.failures += 1
        self.last_failure_at = time.monotonic() if now is None else now

    def record_outcome_without_fault(self) -> None:
        """Count a finished call that failed through the caller's fault (400, 401 ...)."""
        self.calls += 1

    def mark_misconfigured(self, reason: str, seconds: float, now: float | None = None) -> None:
        """Keep the backend out for ``seconds``: its configuration is wrong (``reason``)."""
        self.misconfigured = reason
        self.misconfigured_until = (time.monotonic() if now is None else now) + seconds

    def misconfigured_for(self, now: float) -> float:
        """Seconds the backend is still kept out as misconfigured (0 when it is not)."""
        if self.misconfigured is None:
            return 0.0
        return max(0.0, self.misconfigured_until - now)

    @property
    def avg_latency_ms(self) -> float:
        """Mean of the latency window; 0 before any call."""
        n = len(self._latencies)
        return self._latency_sum / n if n else 0.0

    @property
    def latencies(self) -> tuple[float, ...]:
        """The latency window, oldest first."""
        return tuple(self._latencies)

    @property
    def success_rate(self) -> float:
        """Successes per finished call; 1.0 before any call."""
        return self.successes / self.calls if self.calls else 1.0

    def decayed_failures(self, now: float | None = None) -> float:
        """The failure count, decayed so that a backend recovers its standing over time.

        Unchanged for a minute after the last failure, then falling linearly over an hour
        to a tenth of itself, never lower: old failures weigh less than recent ones, yet a
        backend that failed often never looks quite as good as one that never failed.
        """
        if not self.failures or self.last_failure_at is None:
            return 0.0
        elapsed = (time.monotonic() if now is None else now) - self.last_failure_at
        if elapsed <= FAILURE_DECAY_DELAY:
            return float(self.failures)
        factor = max(FAILURE_DECAY_FLOOR, 1.0 - (elapsed - FAILURE_DECAY_DELAY) / FAILURE_DECAY_SPAN)
        return self.failures * factor

    def availability_score(self, now: float | None = None) -> float:
        """``min(decayed failures / 10, 1)``: 0 is always up, 1 keeps failing."""
        return min(self.decayed_failures(now) / FAILURE_REFERENCE, 1.0)

    def in_cooldown(self, now: float) -> bool:
        """True while a provider-requested delay (retry-after) is running."""
        return now < self.cooldown_until

    def start_cooldown(self, seconds: float, now: float | None = None) -> None:
        """Keep the backend out for ``seconds`` (never shortens a running cool-down)."""
        until = (time.monotonic() if now is None else now) + seconds
        if until > self.cooldown_until:
            self.cooldown_until = until

    def update_rate_limits(
        self,
        remaining_requests: int | None = None,
        remaining_tokens: int | None = None,
        reset_s: float | None = None,
    ) -> None:
        """Tell the router what the provider says is left of its rate limits.

        Backends call this with the values of the provider's rate-limit headers (see
        :func:`claudette.ratelimit.rate_limits_from_headers`). Nothing left and a known
        ``reset_s`` keeps the backend out until then; with ``rpm``/``tpm`` configured,
        the remaining counts also cap what the router's own limiter allows.

        :param remaining_requests: requests left in the provider's window.
        :param remaining_tokens: tokens left in the provider's window.
        :param reset_s: seconds until the provider's window resets.

        A response without rate-limit headers (all three None) changes nothing.
        """
        if remaining_requests is None and remaining_tokens is None and reset_s is None:
            return
        now = time.monotonic()
        if reset_s is not None and reset_s > 0 and (remaining_requests == 0 or remaining_tokens == 0):
            self.start_cooldown(reset_s, now)
        limiter = self.rate_limits
        if limiter is not None:
            limiter.update_from_provider(remaining_requests, remaining_tokens, reset_s, now)


@runtime_checkable
class StateStore(Protocol):
    """Where the router keeps per-backend state. One object per backend name.

    Implementations return the *same* objects for the same name, so that the router can
    hold on to them. A shared store may return subclasses whose methods also publish to,
    and refresh from, the shared engine. Every member is required: the router calls each
    one as declared (the rate limiter, cache and ledger only when those patterns are
    configured).
    """

    def stats(self, backend: str) -> BackendStats:
        """The statistics object of ``backend`` (created on first use)."""
        ...

    def breaker(self, backend: str, policy: BreakerPolicy) -> CircuitBreaker:
        """The circuit breaker of ``backend``, created with ``policy`` on first use."""
        ...

    def forget(self, backend: str) -> None:
        """Drop all state of ``backend`` (when it is unregistered)."""
        ...

    def rate_limiter(self, backend: str, rpm: int | None, tpm: int | None) -> RateLimiter:
        """The requests/tokens-per-minute limiter of ``backend`` (created on first use).

        A shared store returns a limiter whose counts are global, an in-process store a
        :class:`~claudette.ratelimit.RateLimiter`.
        """
        ...

    def response_cache(self, options: CacheOptions) -> ResponseCache:
        """The response cache (one per store), created with ``options`` on first use."""
        ...

    def spend_ledger(self, options: BudgetOptions) -> SpendLedger:
        """The spending ledger of the budget (one per store), created on first use."""
        ...

    async def aclose(self) -> None:
        """Release connections; the store is not used afterwards."""
        ...


class InMemoryStateStore:
    """The default store: plain objects in this process.

    :param window: latency window size for new :class:`BackendStats`.
    """

    def __init__(self, window: int = 100) -> None:
        self._window = window
        self._stats: dict[str, BackendStats] = {}
        self._breakers: dict[str, CircuitBreaker] = {}
        self._limiters: dict[str, RateLimiter] = {}
        self._cache: ResponseCache | None = None
        self._ledger: SpendLedger | None = None

    def stats(self, backend: str) -> BackendStats:
        """The statistics object of ``backend``."""
        s = self._stats.get(backend)
        if s is None:
            s = self._stats[backend] = BackendStats(self._window)
        return s

    def breaker(self, backend: str, policy: BreakerPolicy) -> CircuitBreaker:
        """The circuit breaker of ``backend``."""
        b = self._breakers.get(backend)
        if b is None:
            from claudette.breaker import CircuitBreaker

            b = self._breakers[backend] = CircuitBreaker(backend, policy)
        return b

    def forget(self, backend: str) -> None:
        """Drop all state of ``backend``."""
        self._stats.pop(backend, None)
        self._breakers.pop(backend, None)
        self._limiters.pop(backend, None)

    def rate_limiter(self, backend: str, rpm: int | None, tpm: int | None) -> RateLimiter:
        """The in-process rpm/tpm limiter of ``backend``."""
        limiter = self._limiters.get(backend)
        if limiter is None:
            from claudette.ratelimit import RateLimiter

            limiter = self._limiters[backend] = RateLimiter(rpm, tpm)
        return limiter

    def response_cache(self, options: CacheOptions) -> ResponseCache:
        """The in-process LRU response cache."""
        if self._cache is None:
            from claudette.cache import InMemoryResponseCache

            self._cache = InMemoryResponseCache(options)
        return self._cache

    def spend_ledger(self, options: BudgetOptions) -> SpendLedger:
        """The in-process spending ledger."""
        if self._ledger is None:
            from claudette.budget import SpendLedger

            self._ledger = SpendLedger(options)
        return self._ledger

    async def aclose(self) -> None:
        """Nothing to release."""
