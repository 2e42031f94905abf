"""Publish-and-refresh: the background task that keeps every local view in step with Redis.

The shared objects report their changes here as they happen (plain in-memory bookkeeping,
no I/O). Every ``refresh_interval`` seconds, or at once for a breaker change or a
cool-down, the task sends the queued changes in one pipeline, then reads back each
backend's shared state in a second one and hands it to the objects, which replace their
local view with it (plus whatever was queued meanwhile). A rate-limit acquire wakes the
task to publish at once, without the read-back: the other processes then see the call
at their next refresh, so within one refresh interval, however the rounds of the
processes fall.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Literal

from claudette._log import logger
from claudette.redis_store import _scripts
from claudette.redis_store._clock import epoch_ms
from claudette.redis_store._link import REDIS_ERRORS
from claudette.redis_store._ratelimit import window_start

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from redis.asyncio.client import Pipeline

    from claudette.redis_store._keys import KeyLayout
    from claudette.redis_store._link import RedisLink
    from claudette.redis_store._objects import RedisBackendStats, RedisCircuitBreaker
    from claudette.redis_store._ratelimit import RedisRateLimiter

__all__ = ["BreakerChange", "Synchronizer"]

#: What happened to a breaker; each kind is one Lua script in :mod:`._scripts`.
BreakerChange = Literal["failure", "trip", "success", "close", "release", "reset"]

#: How long a shared rate window's key lives: twice the minute it counts.
_RATE_TTL_MS = 120_000

_Op = tuple[BreakerChange, "RedisCircuitBreaker", int, int]  # kind, breaker, epoch ms, sequence


class Synchronizer:
    """The shared objects of one store, what they have not published yet, and the task.

    :param link: the connection to Redis.
    :param keys: the key names of the deployment.
    :param window: latency window size.
    :param refresh_interval: seconds between publish-and-refresh rounds.
    :param ttl_ms: milliseconds every backend key lives after its last write.
    :param probe_lease_ms: milliseconds a half-open probe slot is held at most.
    :param queue_size: most breaker changes kept while Redis is unreachable (oldest dropped).
    """

    def __init__(
        self,
        link: RedisLink,
        keys: KeyLayout,
        *,
        window: int,
        refresh_interval: float,
        ttl_ms: int,
        probe_lease_ms: int,
        queue_size: int,
    ) -> None:
        self.link = link
        self.keys = keys
        self.window = window
        self.refresh_interval = refresh_interval
        self.ttl_ms = ttl_ms
        self.probe_lease_ms = probe_lease_ms
        # The objects kept in step with Redis, by backend name; the store's factories add them.
        #: Statistics kept in step.
        self.stats: dict[str, RedisBackendStats] = {}
        #: Breakers kept in step.
        self.breakers: dict[str, RedisCircuitBreaker] = {}
        #: Rate limiters kept in step.
        self.limiters: dict[str, RedisRateLimiter] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        # Whether the woken round must also refresh (a breaker change, a cool-down), or
        # only publish (a rate-limit acquire).
        self._refresh_now = False
        self._lock: asyncio.Lock | None = None
        self._ops: deque[_Op] = deque(maxlen=queue_size)
        self._dirty: set[RedisBackendStats] = set()
        self._dirty_limiters: set[RedisRateLimiter] = set()
        self._seq = 0
        self._dropped = 0
        self._closed = False

    def forget(self, backend: str) -> None:
        """Stop keeping ``backend``'s objects in step.

        Their statistics and usage not yet published are dropped; breaker changes already
        queued are still published.
        """
        stats = self.stats.pop(backend, None)
        if stats is not None:
            self._dirty.discard(stats)
        self.breakers.pop(backend, None)
        limiter = self.limiters.pop(backend, None)
        if limiter is not None:
            self._dirty_limiters.discard(limiter)

    # -- the background task ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the background task on the running loop (no-op outside a loop or once closed)."""
        if self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._task is not None and not self._task.done() and self._loop is loop:
            return
        if self._loop is not loop:
            # A new event loop: the old connections belong to the old one.
            self._loop = loop
            self.link.drop_client()
            self._lock = asyncio.Lock()
            self._wake = asyncio.Event()
        self._task = loop.create_task(self._run(), name=f"claudette-redis-sync {self.keys.namespace}")

    def ensure_started(self) -> None:
        """:meth:`start`, unless a task was started before (cheap enough for the hot path)."""
        if self._task is None:
            self.start()

    async def _run(self) -> None:
        wake = self._wake
        assert wake is not None
        loop = asyncio.get_running_loop()
        due = loop.time() + self.refresh_interval
        while not self._closed:
            # asyncio.wait, not wait_for: wait_for may swallow a cancellation on 3.10/3.11.
            waiter = asyncio.ensure_future(wake.wait())
            try:
                await asyncio.wait({waiter}, timeout=max(0.0, due - loop.time()))
            finally:
                waiter.cancel()
            wake.clear()
            if self._closed:
                return
            full = self._refresh_now or loop.time() >= due
            self._refresh_now = False
            try:
                if full:
                    await self.sync()
                    due = loop.time() + self.refresh_interval
                else:
                    await self.publish()
            except asyncio.CancelledError:
                raise
            except Exception:  # never let the sync task die; the next round retries
                logger.exception("Redis state store: unexpected error while syncing")

    async def sync(self) -> bool:
        """Publish pending changes, then refresh every local view from Redis, now.

        :returns: whether Redis answered.
        """
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            try:
                if not self.link.connected:
                    await self.link.client().ping()  # is it back? (even with nothing to send)
                await self._flush()
                await self.refresh()
            except REDIS_ERRORS as exc:
                self.link.failed(exc)
                return False
            self.link.answered()
            return True

    async def publish(self) -> bool:
        """Publish pending changes now, without refreshing the local views.

        :returns: whether Redis answered (False at once while it is known to be down: the
            next full round checks whether it is back and publishes then).
        """
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self.link.connected:
                return False
            try:
                await self._flush()
            except REDIS_ERRORS as exc:
                self.link.failed(exc)
                return False
            self.link.answered()
            return True

    async def aclose(self) -> None:
        """Stop the background task and publish what is pending (best effort)."""
        if self._closed:
            return
        self._closed = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._loop is asyncio.get_running_loop() and self.link.connected:
            await self.sync()

    # -- what the shared objects report ------------------------------------------------------------

    def stats_changed(self, stats: RedisBackendStats, *, urgent: bool = False) -> None:
        """Queue ``stats`` for the next round; ``urgent`` (a cool-down) runs that round now."""
        self._dirty.add(stats)
        self.ensure_started()
        if urgent and self._wake is not None:
            self._refresh_now = True
            self._wake.set()

    def limiter_changed(self, limiter: RedisRateLimiter, *, started: bool = False) -> None:
        """Queue ``limiter``'s usage for the next round.

        :param started: a call started (an acquire): publish it now, so that it reaches
            the other processes within their next refresh. A settled usage waits for the
            next round.
        """
        self._dirty_limiters.add(limiter)
        self.ensure_started()
        if started and self._wake is not None:
            self._wake.set()

    def breaker_changed(self, breaker: RedisCircuitBreaker, kind: BreakerChange) -> int:
        """Queue one change of ``breaker`` and run a round now.

        :returns: the change's sequence number; :meth:`RedisCircuitBreaker.published` gets
            it back once the change has reached Redis.
        """
        self._seq += 1
        if len(self._ops) == self._ops.maxlen:
            self._dropped += 1
        self._ops.append((kind, breaker, epoch_ms(), self._seq))
        self.ensure_started()
        if self._wake is not None:
            self._refresh_now = True
            self._wake.set()
        return self._seq

    # -- publishing ---------------------------------------------------------------------------------

    def _queue_op(self, pipe: Pipeline, op: _Op) -> None:
        kind, breaker, now_ms, _ = op
        keys = (self.keys.breaker(breaker.name), self.keys.probe(breaker.name))
        policy = breaker.policy
        if kind in ("failure", "trip"):
            pipe.eval(
                _scripts.BREAKER_FAILURE,
                2,
                *keys,
                now_ms,
                policy.failure_threshold,
                self.ttl_ms,
                1 if kind == "trip" else 0,
                int(policy.reset_timeout * 1000),
                policy.reset_timeout_growth,
                int(policy.max_reset_timeout * 1000),
            )
        elif kind in ("success", "close"):
            pipe.eval(_scripts.BREAKER_SUCCESS, 2, *keys, self.ttl_ms, 1 if kind == "close" else 0, now_ms)
        elif kind == "release":
            pipe.eval(_scripts.BREAKER_RELEASE, 1, keys[1])
        else:
            pipe.eval(_scripts.BREAKER_RESET, 2, *keys, self.ttl_ms)

    async def _flush(self) -> None:
        ops = list(self._ops)
        self._ops.clear()
        dirty = [s for s in self._dirty if s.has_pending]
        self._dirty.clear()
        limiters = list(self._dirty_limiters)
        self._dirty_limiters.clear()
        if not ops and not dirty and not limiters:
            return
        pending = [(s, s.take_pending()) for s in dirty]
        rates = [(lim, lim.take_pending()) for lim in limiters]
        try:
            pipe = self.link.client().pipeline(transaction=False)
            for op in ops:
                self._queue_op(pipe, op)
            for stats, (calls, successes, failures, last_ms, cool_ms, lat) in pending:
                pipe.eval(
                    _scripts.STATS_PUBLISH,
                    2,
                    self.keys.stats(stats.name),
                    self.keys.latencies(stats.name),
                    calls,
                    successes,
                    failures,
                    last_ms,
                    cool_ms,
                    self.window,
                    self.ttl_ms,
                    *(round(v, 3) for v in lat),
                )
            for limiter, (start, requests, tokens) in rates:
                key = self.keys.rate(limiter.name, start)
                pipe.hincrby(key, "requests", requests)
                pipe.hincrbyfloat(key, "tokens", tokens)
                pipe.pexpire(key, _RATE_TTL_MS)
            await pipe.execute()
        except BaseException:
            self._ops = deque(ops + list(self._ops), maxlen=self._ops.maxlen)
            for stats, p in pending:
                stats.restore_pending(p)
                self._dirty.add(stats)
            for limiter, r in rates:
                limiter.restore_pending(r)
                self._dirty_limiters.add(limiter)
            raise
        for limiter, r in rates:
            limiter.published(r)
        if self._dropped:
            logger.warning("Redis state store: %d breaker changes were dropped during the outage", self._dropped)
            self._dropped = 0
        for _, breaker, _, seq in ops:
            breaker.published(seq)

    # -- refreshing ---------------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Replace every local view with Redis's (plus what is not yet published).

        Publishes nothing: :meth:`sync` publishes first.
        """
        names = sorted(set(self.stats) | set(self.breakers))
        if not names and not self.limiters:
            return
        pipe = self.link.client().pipeline(transaction=False)
        for name in names:
            pipe.hgetall(self.keys.breaker(name))
            pipe.get(self.keys.probe(name))
            pipe.hgetall(self.keys.stats(name))
            pipe.lrange(self.keys.latencies(name), 0, self.window - 1)
        start = window_start()
        limiters = sorted(self.limiters.items())
        for name, _ in limiters:
            pipe.hmget(self.keys.rate(name, start), "requests", "tokens")
        results = await pipe.execute()
        for (_, limiter), (requests, tokens) in zip(limiters, results[4 * len(names) :], strict=True):
            limiter.apply_remote(start, requests, tokens)
        for i, name in enumerate(names):
            breaker_fields, probes, stats_fields, latencies = results[4 * i : 4 * i + 4]
            breaker = self.breakers.get(name)
            if breaker is not None:
                breaker.apply_remote(breaker_fields, int(probes or 0))
            stats = self.stats.get(name)
            if stats is not None:
                stats.apply_remote(stats_fields, latencies)

    # -- the request path ------------------------------------------------------------------------------

    async def acquire_probe(self, breaker: RedisCircuitBreaker, *, early: bool = False) -> tuple[int, int] | None:
        """Ask Redis for a half-open probe slot of ``breaker``, atomically across processes.

        :param early: a probe before the open period ends (the router's panic probe).

        :returns: ``(code, opened_at_ms)`` as :data:`._scripts.BREAKER_ACQUIRE` answers, or
            None when Redis cannot answer (the local view decides).
        """
        if not self.link.connected:
            return None
        # Publish this breaker's own queued changes first, so Redis judges the latest state.
        if breaker.has_pending:
            await self.sync()
        name = breaker.name
        policy = breaker.policy

        async def ask(client: aioredis.Redis) -> tuple[int, int]:
            code, opened = await client.eval(
                _scripts.BREAKER_ACQUIRE,
                2,
                self.keys.breaker(name),
                self.keys.probe(name),
                epoch_ms(),
                int(policy.reset_timeout * 1000),
                policy.half_open_max_calls,
                self.probe_lease_ms,
                self.ttl_ms,
                1 if early else 0,
            )
            return int(code), int(opened)

        return await self.link.run(ask)
