"""The shared-state subclasses the router holds: a local view, published and refreshed.

The router calls their synchronous methods on the hot path; those only touch local
fields and note what changed. The store's background task publishes the changes to Redis
and overwrites the local view with the shared one every ``refresh_interval`` seconds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING

from claudette.breaker import CircuitBreaker, CircuitBreakerState
from claudette.redis_store._clock import epoch_ms, to_monotonic
from claudette.state import BackendStats
from claudette.types import BreakerPolicy

if TYPE_CHECKING:
    from claudette.redis_store._store import RedisStateStore
    from claudette.redis_store._sync import BreakerChange

__all__ = ["RedisBackendStats", "RedisCircuitBreaker"]

_CLOSED = CircuitBreakerState.CLOSED
_OPEN = CircuitBreakerState.OPEN
_HALF_OPEN = CircuitBreakerState.HALF_OPEN


class RedisBackendStats(BackendStats):
    """:class:`BackendStats` whose counts, latency window and cool-down are shared.

    ``in_flight`` and the health-check result stay per process.

    :param name: the backend these statistics belong to.
    :param store: the store that publishes and refreshes them.
    :param window: latency window size.
    """

    __slots__ = (
        "_p_calls",
        "_p_cooldown_ms",
        "_p_failures",
        "_p_last_failure_ms",
        "_p_latencies",
        "_p_successes",
        "_sync",
        "name",
    )

    def __init__(self, name: str, store: RedisStateStore, window: int = 100) -> None:
        super().__init__(window)
        #: The backend these statistics belong to.
        self.name = name
        self._sync = store.synchronizer
        self._p_calls = 0
        self._p_successes = 0
        self._p_failures = 0
        self._p_last_failure_ms = 0
        self._p_cooldown_ms = 0
        self._p_latencies: deque[float] = deque(maxlen=window)

    def record_success(self, latency_ms: float, now: float | None = None) -> None:
        """Count a success locally and queue it for Redis."""
        super().record_success(latency_ms, now)
        self._p_calls += 1
        self._p_successes += 1
        self._p_latencies.append(latency_ms)
        self._sync.stats_changed(self)

    def record_failure(self, now: float | None = None) -> None:
        """Count a provider failure locally and queue it for Redis."""
        super().record_failure(now)
        self._p_calls += 1
        self._p_failures += 1
        self._p_last_failure_ms = epoch_ms(self.last_failure_at)
        self._sync.stats_changed(self)

    def record_outcome_without_fault(self) -> None:
        """Count a caller-fault outcome locally and queue it for Redis."""
        super().record_outcome_without_fault()
        self._p_calls += 1
        self._sync.stats_changed(self)

    def start_cooldown(self, seconds: float, now: float | None = None) -> None:
        """Start a cool-down here and, at the next flush (triggered now), everywhere."""
        super().start_cooldown(seconds, now)
        self._p_cooldown_ms = max(self._p_cooldown_ms, epoch_ms(self.cooldown_until))
        self._sync.stats_changed(self, urgent=True)

    @property
    def has_pending(self) -> bool:
        """Whether changes wait to be published."""
        return bool(self._p_calls or self._p_cooldown_ms or self._p_latencies)

    def take_pending(self) -> tuple[int, int, int, int, int, list[float]]:
        """The unpublished changes, which are cleared here."""
        out = (
            self._p_calls,
            self._p_successes,
            self._p_failures,
            self._p_last_failure_ms,
            self._p_cooldown_ms,
            list(self._p_latencies),
        )
        self._p_calls = self._p_successes = self._p_failures = 0
        self._p_last_failure_ms = self._p_cooldown_ms = 0
        self._p_latencies.clear()
        return out

    def restore_pending(self, pending: tuple[int, int, int, int, int, list[float]]) -> None:
        """Put back changes that could not be published (merged with newer ones)."""
        calls, successes, failures, last_ms, cool_ms, latencies = pending
        self._p_calls += calls
        self._p_successes += successes
        self._p_failures += failures
        self._p_last_failure_ms = max(self._p_last_failure_ms, last_ms)
        self._p_cooldown_ms = max(self._p_cooldown_ms, cool_ms)
        newer = list(self._p_latencies)
        self._p_latencies.clear()
        self._p_latencies.extend(latencies + newer)

    def apply_remote(self, fields: Mapping[str, str], latencies: list[str]) -> None:
        """Replace the local view with Redis's, plus what is not yet published."""
        self.calls = int(fields.get("calls", 0)) + self._p_calls
        self.successes = int(fields.get("successes", 0)) + self._p_successes
        self.failures = int(fields.get("failures", 0)) + self._p_failures
        last_ms = max(int(fields.get("last_failure_at", 0)), self._p_last_failure_ms)
        self.last_failure_at = to_monotonic(last_ms) if last_ms else None
        cool_ms = int(fields.get("cooldown_until", 0))
        if cool_ms:
            self.cooldown_until = max(self.cooldown_until, to_monotonic(cool_ms))
        window = self._latencies
        merged = [float(v) for v in reversed(latencies)] + list(self._p_latencies)
        window.clear()
        window.extend(merged)
        self._latency_sum = sum(window)


class RedisCircuitBreaker(CircuitBreaker):
    """A :class:`CircuitBreaker` whose state and failure count are shared through Redis.

    CLOSED calls never wait for Redis. Leaving OPEN needs a probe slot that Redis grants
    to one process at a time (:meth:`acquire`, which the router awaits before every call).
    """

    __slots__ = ("_flushed_seq", "_holding", "_probe_elsewhere", "_queued_seq", "_sync")

    def __init__(self, name: str, policy: BreakerPolicy | None, store: RedisStateStore) -> None:
        super().__init__(name, policy)
        self._sync = store.synchronizer
        #: Probe slots this process holds in Redis.
        self._holding = 0
        #: Redis says every probe slot is taken by another process.
        self._probe_elsewhere = False
        # Sequence numbers of this breaker's last queued change and last published one.
        self._queued_seq = 0
        self._flushed_seq = 0

    def _move(self, new: CircuitBreakerState) -> None:
        if new is not self._state:
            self._probe_elsewhere = False
        super()._move(new)

    # -- the router's synchronous calls ------------------------------------------------------

    def allows_request(self) -> bool:
        """Whether a call could pass now, by the local view."""
        if self._probe_elsewhere and self.state is _HALF_OPEN:
            return False
        return super().allows_request()

    def try_acquire(self) -> bool:
        """Take permission by the local view only (the router uses :meth:`acquire`)."""
        self._sync.ensure_started()
        if self._probe_elsewhere and self.state is _HALF_OPEN:
            return False
        return super().try_acquire()

    def release(self) -> None:
        """Free the call's probe slot, here and in Redis."""
        super().release()
        if self._holding:
            self._holding -= 1
            self._publish("release")

    def record_success(self) -> None:
        """A success resets the shared count; a probe's success closes it everywhere."""
        before = self._state
        had_failures = self.consecutive_failures > 0 or before is not _CLOSED
        super().record_success()
        if had_failures or self._holding:
            self._holding = 0
            closed = before is not _CLOSED and self._state is _CLOSED
            self._publish("close" if closed else "success")

    def record_failure(self) -> None:
        """A provider failure counts in the shared count (and may open the breaker).

        When this process's failure rate opened the breaker, Redis opens it too.
        """
        before = self._state
        super().record_failure()
        self._holding = 0
        tripped = before is _CLOSED and self._state is _OPEN
        self._publish("trip" if tripped else "failure")

    def reset(self) -> None:
        """Force the breaker CLOSED here and in Redis."""
        super().reset()
        self._holding = 0
        self._publish("reset")

    # -- the cross-process probe -------------------------------------------------------------

    async def acquire(self) -> bool:
        """:meth:`try_acquire`, with Redis deciding who may probe a recovering backend.

        In CLOSED this answers at once. Otherwise Redis grants the probe slot atomically,
        so one probe runs across every process; when Redis cannot be reached the local view
        decides, as the in-memory breaker would.
        """
        if not self.try_acquire():
            return False
        return await self._ask_redis(early=False)

    async def acquire_early(self) -> bool:
        """:meth:`try_acquire_early`, with Redis granting the one probe across processes."""
        if self._probe_elsewhere or not self.try_acquire_early():
            return False
        return await self._ask_redis(early=True)

    async def _ask_redis(self, *, early: bool) -> bool:
        """Confirm the local slot just taken with Redis (one probe everywhere)."""
        if self._state is _CLOSED:
            return True
        answer = await self._sync.acquire_probe(self, early=early)
        if answer is None:  # Redis unavailable: trust the local view
            return True
        code, opened_ms = answer
        if code == 2:
            self._holding += 1
            return True
        super().release()  # give back the local slot taken above
        if code == 1:
            self.apply_remote(
                {"state": "closed", "failures": str(self.consecutive_failures)}, 0, force=True
            )
            return True
        if opened_ms > 0:
            self.apply_remote(
                {"state": "open", "opened_at": str(opened_ms), "failures": str(self.consecutive_failures)},
                0,
                force=True,
            )
        else:
            self._probe_elsewhere = True
        return False

    # -- refresh -------------------------------------------------------------------------------

    def apply_remote(self, fields: Mapping[str, str], probes: int, *, force: bool = False) -> None:
        """Adopt Redis's view of state and count.

        Skipped while this breaker has changes not yet published (unless ``force``): the
        next refresh, after they are published, brings the merged view.
        """
        if not force and self.has_pending:
            return
        self.consecutive_failures = int(fields.get("failures", 0))
        remote = fields.get("state", "closed")
        if remote == "closed":
            self._move(_CLOSED)
            self.trips = int(fields.get("trips", self.trips))
            return
        if remote == "open":
            opened = to_monotonic(int(fields.get("opened_at", 0)))
            open_for = fields.get("open_for")
            period = int(open_for) / 1000.0 if open_for else self.open_for
            if self._clock() - opened >= period:
                # Due for a probe; whoever asks first gets it (acquire).
                if self._state is _HALF_OPEN:
                    return
            self._move(_OPEN)
            self._adopt_open_period(fields, opened, period)
            return
        self._move(_HALF_OPEN)
        if not self._holding:
            self._probe_elsewhere = probes >= self.policy.half_open_max_calls

    def _adopt_open_period(self, fields: Mapping[str, str], opened: float, period: float) -> None:
        """Take Redis's trip count and open period (they grow across every process's trips)."""
        self.opened_at = opened
        self.open_for = period
        self.trips = int(fields.get("trips", self.trips))

    @property
    def has_pending(self) -> bool:
        """Whether changes of this breaker wait to be published."""
        return self._queued_seq != self._flushed_seq

    def published(self, seq: int) -> None:
        """Note that the changes up to sequence number ``seq`` have reached Redis."""
        self._flushed_seq = max(self._flushed_seq, seq)

    def _publish(self, kind: BreakerChange) -> None:
        self._queued_seq = self._sync.breaker_changed(self, kind)
