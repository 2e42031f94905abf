"""The per-backend circuit breaker: CLOSED → OPEN → HALF_OPEN → CLOSED.

- CLOSED: calls pass; ``failure_threshold`` consecutive failures open the breaker (a
  success resets the count), and so does a failure rate of ``failure_rate_threshold``
  over the last ``window_size`` calls once ``minimum_calls`` are known.
- OPEN: no call passes until the open period has gone by: ``reset_timeout`` on the first
  trip, growing by ``reset_timeout_growth`` on each trip that follows soon after the
  breaker closed, up to ``max_reset_timeout`` (:meth:`BreakerPolicy.open_period`).
- HALF_OPEN: at most ``half_open_max_calls`` probes (one by default) pass at a time, even
  under concurrency; a successful probe closes the breaker, a failed one opens it again.

When every backend's breaker is open the router may still send one request as a probe
before the open period ends (:meth:`CircuitBreaker.try_acquire_early`): the probe's
success closes the breaker, its failure starts the open period again.

A cancelled call is neither a success nor a failure: :meth:`CircuitBreaker.release` frees
its probe slot.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from claudette.types import BreakerPolicy

if TYPE_CHECKING:
    from claudette.errors import BackendError

__all__ = ["BreakerOpenError", "CircuitBreaker", "CircuitBreakerState"]

T = TypeVar("T")


class CircuitBreakerState(str, enum.Enum):
    """The three states of a circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerOpenError(RuntimeError):
    """Raised by :meth:`CircuitBreaker.call` when the breaker lets no call through."""


class CircuitBreaker:
    """Stops calls to a backend that keeps failing, and lets one probe test its recovery.

    :param name: the backend's name (for messages).
    :param policy: thresholds and timings.
    :param clock: a monotonic clock, replaceable in tests.
    """

    __slots__ = (
        "_clock",
        "_outcomes",
        "_probes",
        "_state",
        "closed_at",
        "consecutive_failures",
        "name",
        "on_transition",
        "open_for",
        "opened_at",
        "policy",
        "trips",
    )

    def __init__(
        self,
        name: str,
        policy: BreakerPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._state = CircuitBreakerState.CLOSED
        self._probes = 0
        self.consecutive_failures = 0
        self.opened_at: float | None = None
        #: Seconds the current (or last) open period lasts.
        self.open_for = self.policy.reset_timeout
        #: Trips in a row: each one that follows soon after the breaker closed lengthens
        #: the open period.
        self.trips = 0
        #: ``clock()`` when the breaker last closed after a trip (None before any trip).
        self.closed_at: float | None = None
        # The outcomes of the recent calls (True: failed), for the failure rate.
        self._outcomes: deque[bool] = deque(maxlen=self.policy.window_size)
        #: Called as ``on_transition(breaker, old_state, new_state)`` on every change.
        self.on_transition: Callable[[CircuitBreaker, CircuitBreakerState, CircuitBreakerState], None] | None = None

    def __repr__(self) -> str:
        return (
            f"<CircuitBreaker {self.name!r} {self.state.value} failures={self.consecutive_failures}"
            f" trips={self.trips}>"
        )

    def _move(self, new: CircuitBreakerState) -> None:
        old = self._state
        if old is new:
            return
        self._state = new
        now = self._clock()
        if new is CircuitBreakerState.OPEN:
            self._trip(now, repeated=old is CircuitBreakerState.HALF_OPEN)
        elif new is CircuitBreakerState.CLOSED:
            self.closed_at = now
            self._outcomes.clear()
        if new is not CircuitBreakerState.HALF_OPEN:
            self._probes = 0
        if self.on_transition is not None:
            self.on_transition(self, old, new)

    def _trip(self, now: float, *, repeated: bool) -> None:
        """Start an open period, longer when this trip follows the last one closely."""
        policy = self.policy
        if not repeated and (
            self.closed_at is None or now - self.closed_at >= max(policy.max_reset_timeout, policy.reset_timeout)
        ):
            self.trips = 0
        self.trips += 1
        self.open_for = policy.open_period(self.trips)
        self.opened_at = now

    @property
    def failure_rate(self) -> float | None:
        """Failures per call over the recent window; None until ``minimum_calls`` are known."""
        outcomes = self._outcomes
        if len(outcomes) < self.policy.minimum_calls:
            return None
        return sum(outcomes) / len(outcomes)

    @property
    def state(self) -> CircuitBreakerState:
        """The current state; OPEN turns HALF_OPEN here once the open period has passed."""
        if (
            self._state is CircuitBreakerState.OPEN
            and self.opened_at is not None
            and self._clock() - self.opened_at >= self.open_for
        ):
            self._move(CircuitBreakerState.HALF_OPEN)
        return self._state

    @property
    def seconds_until_probe(self) -> float:
        """Seconds until an OPEN breaker allows a probe (0 when not OPEN)."""
        if self.state is not CircuitBreakerState.OPEN or self.opened_at is None:
            return 0.0
        return max(0.0, self.opened_at + self.open_for - self._clock())

    def allows_request(self) -> bool:
        """Whether a call could pass now (does not take a probe slot)."""
        state = self.state
        if state is CircuitBreakerState.CLOSED:
            return True
        if state is CircuitBreakerState.HALF_OPEN:
            return self._probes < self.policy.half_open_max_calls
        return False

    def try_acquire(self) -> bool:
        """Take permission for one call; in HALF_OPEN this takes a probe slot.

        Every successful acquire must be followed by exactly one of
        :meth:`record_success`, :meth:`record_failure` or :meth:`release`.
        """
        state = self.state
        if state is CircuitBreakerState.CLOSED:
            return True
        if state is CircuitBreakerState.HALF_OPEN and self._probes < self.policy.half_open_max_calls:
            self._probes += 1
            return True
        return False

    def try_acquire_early(self) -> bool:
        """Take a probe slot before the open period ends (the router's panic probe).

        Allowed in OPEN (and HALF_OPEN) while a probe slot is free; settle it like any
        acquire. A success closes the breaker; a failure starts the open period again.
        """
        state = self.state
        if state is CircuitBreakerState.CLOSED:
            return True
        if self._probes < self.policy.half_open_max_calls:
            self._probes += 1
            return True
        return False

    async def acquire_early(self) -> bool:
        """:meth:`try_acquire_early`, awaited by the router (a shared breaker asks its store)."""
        return self.try_acquire_early()

    async def acquire(self) -> bool:
        """Take permission for one call, as :meth:`try_acquire` does; the router awaits this.

        A breaker whose state is shared between processes overrides it to ask the shared
        store who may probe a recovering backend (one probe everywhere, not one per process).
        """
        return self.try_acquire()

    def release(self) -> None:
        """End an acquired call that neither succeeded nor failed (cancelled, caller's fault)."""
        if self._state is not CircuitBreakerState.CLOSED and self._probes > 0:
            self._probes -= 1

    def record_success(self) -> None:
        """A call succeeded: reset the count; a probe's success closes the breaker."""
        self.consecutive_failures = 0
        state = self._state
        if state is CircuitBreakerState.CLOSED:
            self._outcomes.append(False)
        elif state is CircuitBreakerState.HALF_OPEN or self._probes > 0:
            # A probe's success (a call that started before the breaker opened proves
            # nothing about the open period, so a success in OPEN without a probe does not).
            self._move(CircuitBreakerState.CLOSED)

    def record_failure(self) -> None:
        """A call failed through the provider's fault."""
        self.consecutive_failures += 1
        state = self._state
        if state is CircuitBreakerState.HALF_OPEN:
            self._move(CircuitBreakerState.OPEN)
        elif state is CircuitBreakerState.CLOSED:
            self._outcomes.append(True)
            if self._should_trip():
                self._move(CircuitBreakerState.OPEN)
        else:  # a straggler, or a probe sent before the open period ended
            if self._probes > 0:
                self._probes -= 1
            self.opened_at = self._clock()

    def _should_trip(self) -> bool:
        """Whether the failures seen while CLOSED open the breaker."""
        policy = self.policy
        if self.consecutive_failures >= policy.failure_threshold:
            return True
        rate = self.failure_rate
        return rate is not None and rate >= policy.failure_rate_threshold

    def record_error(self, error: BackendError) -> bool:
        """Record ``error`` as a failure if the policy counts it, else release the call.

        :returns: whether it counted as a failure.
        """
        if self.policy.counts_as_failure(error):
            self.record_failure()
            return True
        self.release()
        return False

    def reset(self) -> None:
        """Force the breaker CLOSED with no failures (an operator's action)."""
        self.consecutive_failures = 0
        self.trips = 0
        self._outcomes.clear()
        self._move(CircuitBreakerState.CLOSED)

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation()`` under the breaker.

        :raises BreakerOpenError: when the breaker lets no call through.
        """
        from claudette.errors import BackendError

        if not self.try_acquire():
            raise BreakerOpenError(f"circuit breaker of {self.name!r} is {self.state.value}")
        try:
            result = await operation()
        except BackendError as exc:
            self.record_error(exc)
            raise
        except BaseException:
            self.release()
            raise
        self.record_success()
        return result
