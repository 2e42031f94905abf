"""The :class:`RedisStateStore`: one shared view of every backend for many processes."""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from claudette._log import logger
from claudette.errors import ConfigError, ConfigProblem
from claudette.redis_store import _scripts
from claudette.redis_store._cache import RedisResponseCache
from claudette.redis_store._clock import epoch_ms
from claudette.redis_store._keys import KeyLayout
from claudette.redis_store._objects import RedisBackendStats, RedisCircuitBreaker
from claudette.redis_store._ratelimit import RedisRateLimiter, window_start
from claudette.types import BreakerPolicy

if TYPE_CHECKING:
    from claudette.budget import SpendLedger
    from claudette.types import BudgetOptions, CacheOptions

#: A shared rate window's key outlives the minute it counts by this factor.
_RATE_TTL_MS = 120_000

__all__ = ["RedisStateStore"]

#: What a failed Redis call can raise (the client's errors, sockets, our own timeout).
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, asyncio.TimeoutError)

#: The ``[state]`` keys this store understands, with their defaults.
DEFAULTS: dict[str, Any] = {
    "namespace": "claudette",
    "refresh_interval": 0.5,
    "timeout": 0.25,
    "ttl": 86400.0,
    "probe_lease": 60.0,
    "queue_size": 10_000,
}

_Op = tuple[str, RedisCircuitBreaker, int, int]  # kind, breaker, epoch ms, sequence


def _where(url: str) -> str:
    """``host:port/db`` of a Redis URL, never its password."""
    try:
        pool_kwargs = aioredis.connection.parse_url(url)
    except ValueError:
        return "redis"
    if "path" in pool_kwargs:
        return f"unix:{pool_kwargs['path']}"
    return f"{pool_kwargs.get('host', 'localhost')}:{pool_kwargs.get('port', 6379)}/{pool_kwargs.get('db', 0)}"


class RedisStateStore:
    """Backend state shared by every router process that uses the same Redis and namespace.

    The router reads and writes a local view (plain attributes, no I/O); a background task
    publishes changes and refreshes the view every ``refresh_interval`` seconds. Only
    leaving an OPEN breaker asks Redis on the request path, so that exactly one process
    probes a recovering backend. When Redis is unreachable, routing goes on with the local
    view, one warning is logged, and the queued changes are replayed once it is back.

    :param url: ``redis://``, ``rediss://`` or ``unix://`` URL.
    :param namespace: prefix of every key; one per deployment.
    :param window: latency window size.
    :param refresh_interval: seconds between publish-and-refresh rounds.
    :param timeout: socket (and connect) timeout of each Redis call, in seconds.
    :param ttl: seconds every backend key lives after its last write.
    :param probe_lease: seconds a half-open probe slot is held at most (a crashed prober
        frees it after this long).
    :param queue_size: most breaker changes kept while Redis is unreachable (oldest dropped).
    :param client: an existing ``redis.asyncio.Redis`` to use instead of ``url``.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        namespace: str = "claudette",
        window: int = 100,
        refresh_interval: float = 0.5,
        timeout: float = 0.25,
        ttl: float = 86400.0,
        probe_lease: float = 60.0,
        queue_size: int = 10_000,
        client: aioredis.Redis | None = None,
    ) -> None:
        if refresh_interval <= 0 or timeout <= 0 or ttl <= 0 or probe_lease <= 0:
            raise ValueError("refresh_interval, timeout, ttl and probe_lease must be positive")
        self.url = url
        self.keys = KeyLayout(namespace)
        self.window = window
        self.refresh_interval = refresh_interval
        self.timeout = timeout
        self.ttl_ms = int(ttl * 1000)
        self.probe_lease_ms = int(probe_lease * 1000)
        self._given_client = client
        self._client: aioredis.Redis | None = client
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._stats: dict[str, RedisBackendStats] = {}
        self._breakers: dict[str, RedisCircuitBreaker] = {}
        self._ops: deque[_Op] = deque(maxlen=queue_size)
        self._dirty: set[RedisBackendStats] = set()
        self._limiters: dict[str, RedisRateLimiter] = {}
        self._dirty_limiters: set[RedisRateLimiter] = set()
        self._cache: RedisResponseCache | None = None
        self._ledger: SpendLedger | None = None
        self._seq = 0
        self._dropped = 0
        self._closed = False
        #: False after a failed Redis call, until one succeeds again.
        self.connected = True
        #: Warnings logged about Redis being unreachable (one per outage).
        self.outages = 0

    @classmethod
    def from_config(cls, table: Mapping[str, Any], *, window: int = 100) -> RedisStateStore:
        """Build the store from the ``[state]`` table (``url``, ``namespace`` or ``prefix``,
        ``refresh_interval``, ``timeout``, ``ttl``, ``probe_lease``, ``queue_size``).

        :raises ConfigError: on an unknown key or a value of the wrong type or range.
        """
        data = dict(table)
        url = data.pop("url", None)
        if not isinstance(url, str) or not url:
            raise ConfigError([ConfigProblem("state.url", f"expected a redis:// URL, got {url!r}")])
        if "prefix" in data:
            data.setdefault("namespace", data.pop("prefix"))
        problems: list[ConfigProblem] = []
        options: dict[str, Any] = {}
        for key, value in data.items():
            if key not in DEFAULTS:
                known = ", ".join(["url", "prefix", *DEFAULTS])
                problems.append(ConfigProblem(f"state.{key}", f"unknown key (expected one of {known})"))
                continue
            default = DEFAULTS[key]
            if isinstance(default, str):
                ok = isinstance(value, str) and bool(value) and not any(c.isspace() for c in value)
                expected = "a non-empty string without spaces"
            elif isinstance(default, int):
                ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
                expected = "a positive integer"
            else:
                ok = (
                    isinstance(value, (int, float))
                    and not isinstance(value, bool)
                    and math.isfinite(value)
                    and value > 0
                )
                expected = "a positive number of seconds"
            if not ok:
                problems.append(ConfigProblem(f"state.{key}", f"expected {expected}, got {value!r}"))
            options[key] = value
        if problems:
            raise ConfigError(problems)
        return cls(url, window=window, **options)

    def __repr__(self) -> str:
        return f"<RedisStateStore {_where(self.url)} namespace={self.keys.namespace!r}>"

    # -- the StateStore interface -------------------------------------------------------------

    def stats(self, backend: str) -> RedisBackendStats:
        """The shared statistics of ``backend`` (created on first use)."""
        s = self._stats.get(backend)
        if s is None:
            s = self._stats[backend] = RedisBackendStats(backend, self, self.window)
            self._ensure_started()
        return s

    def breaker(self, backend: str, policy: BreakerPolicy) -> RedisCircuitBreaker:
        """The shared circuit breaker of ``backend``, created with ``policy`` on first use."""
        b = self._breakers.get(backend)
        if b is None:
            b = self._breakers[backend] = RedisCircuitBreaker(backend, policy, self)
            self._ensure_started()
        return b

    def rate_limiter(self, backend: str, rpm: int | None, tpm: int | None) -> RedisRateLimiter:
        """The rpm/tpm limiter of ``backend``, counting every process's calls."""
        limiter = self._limiters.get(backend)
        if limiter is None:
            limiter = self._limiters[backend] = RedisRateLimiter(backend, self, rpm, tpm)
            self._ensure_started()
        return limiter

    def response_cache(self, options: CacheOptions) -> RedisResponseCache:
        """The response cache shared by every process of the namespace."""
        if self._cache is None:
            self._cache = RedisResponseCache(self, options)
        return self._cache

    def spend_ledger(self, options: BudgetOptions) -> SpendLedger:
        """The spending ledger: per process (a shared budget is not implemented yet)."""
        if self._ledger is None:
            from claudette.budget import SpendLedger

            self._ledger = SpendLedger(options)
        return self._ledger

    def forget(self, backend: str) -> None:
        """Drop this process's view of ``backend``; the shared keys stay for the others."""
        stats = self._stats.pop(backend, None)
        if stats is not None:
            self._dirty.discard(stats)
        self._breakers.pop(backend, None)
        limiter = self._limiters.pop(backend, None)
        if limiter is not None:
            self._dirty_limiters.discard(limiter)

    async def aclose(self) -> None:
        """Publish what is pending (best effort), stop the background task, disconnect."""
        if self._closed:
            return
        self._closed = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._loop is asyncio.get_running_loop() and self.connected:
            await self.sync()
        client, self._client = self._client, None
        if client is not None and self._given_client is None:
            try:
                await client.aclose()
            except (RedisError, OSError, RuntimeError):  # e.g. connections of a closed loop
                logger.debug("Redis state store: error while disconnecting", exc_info=True)

    # -- the background task ---------------------------------------------------------------------

    def _ensure_started(self) -> None:
        """Start the background task on the running loop (no-op outside a loop)."""
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
            if self._given_client is None:
                self._client = None
            self._lock = asyncio.Lock()
            self._wake = asyncio.Event()
        self._task = loop.create_task(self._run(), name=f"claudette-redis-sync {self.keys.namespace}")

    async def start(self) -> None:
        """Start the background task now and load the shared view once."""
        self._ensure_started()
        await self.sync()

    async def _run(self) -> None:
        wake = self._wake
        assert wake is not None
        while not self._closed:
            # asyncio.wait, not wait_for: wait_for may swallow a cancellation on 3.10/3.11.
            waiter = asyncio.ensure_future(wake.wait())
            try:
                await asyncio.wait({waiter}, timeout=self.refresh_interval)
            finally:
                waiter.cancel()
            wake.clear()
            if self._closed:
                return
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception:  # never let the sync task die; the next round retries
                logger.exception("Redis state store: unexpected error while syncing")

    def _redis(self) -> aioredis.Redis:
        if self._client is None:
            self._client = aioredis.Redis.from_url(
                self.url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=Retry(NoBackoff(), 0),
                decode_responses=True,
            )
        return self._client

    def _link_failed(self, exc: BaseException) -> None:
        if self._task is None:
            self._ensure_started()  # the sync task notices when Redis is back
        if self.connected:
            self.connected = False
            self.outages += 1
            logger.warning(
                "Redis state store at %s is unreachable (%s: %s); routing continues on this "
                "process's local state and re-syncs when Redis is back",
                _where(self.url),
                type(exc).__name__,
                exc,
            )

    def _link_ok(self) -> None:
        if not self.connected:
            self.connected = True
            logger.warning("Redis state store at %s is reachable again; state re-synced", _where(self.url))

    async def sync(self) -> bool:
        """Publish pending changes, then refresh every local view from Redis, now.

        :returns: whether Redis answered.
        """
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            try:
                if not self.connected:
                    await self._redis().ping()  # is it back? (even with nothing to send)
                await self._flush()
                await self._refresh()
            except REDIS_ERRORS as exc:
                self._link_failed(exc)
                return False
            self._link_ok()
            return True

    # -- publishing ---------------------------------------------------------------------------------

    def _stats_changed(self, stats: RedisBackendStats, *, urgent: bool = False) -> None:
        self._dirty.add(stats)
        if self._task is None:
            self._ensure_started()
        if urgent and self._wake is not None:
            self._wake.set()

    def _limiter_changed(self, limiter: RedisRateLimiter) -> None:
        self._dirty_limiters.add(limiter)
        if self._task is None:
            self._ensure_started()

    def _breaker_op(self, breaker: RedisCircuitBreaker, kind: str) -> None:
        self._seq += 1
        breaker._queued_seq = self._seq
        if len(self._ops) == self._ops.maxlen:
            self._dropped += 1
        self._ops.append((kind, breaker, epoch_ms(), self._seq))
        if self._task is None:
            self._ensure_started()
        if self._wake is not None:
            self._wake.set()

    def _queue_op(self, pipe: Any, op: _Op) -> None:
        kind, breaker, now_ms, _ = op
        keys = (self.keys.breaker(breaker.name), self.keys.probe(breaker.name))
        if kind == "failure":
            pipe.eval(_scripts.BREAKER_FAILURE, 2, *keys, now_ms, breaker.policy.failure_threshold, self.ttl_ms)
        elif kind == "success":
            pipe.eval(_scripts.BREAKER_SUCCESS, 2, *keys, self.ttl_ms)
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
            pipe = self._redis().pipeline(transaction=False)
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
            breaker._flushed_seq = max(breaker._flushed_seq, seq)

    # -- refreshing ---------------------------------------------------------------------------------

    async def _refresh(self) -> None:
        names = sorted(set(self._stats) | set(self._breakers))
        if not names and not self._limiters:
            return
        pipe = self._redis().pipeline(transaction=False)
        for name in names:
            pipe.hgetall(self.keys.breaker(name))
            pipe.get(self.keys.probe(name))
            pipe.hgetall(self.keys.stats(name))
            pipe.lrange(self.keys.latencies(name), 0, self.window - 1)
        start = window_start()
        limiters = sorted(self._limiters.items())
        for name, _ in limiters:
            pipe.hmget(self.keys.rate(name, start), "requests", "tokens")
        results = await pipe.execute()
        for (_, limiter), (requests, tokens) in zip(limiters, results[4 * len(names) :], strict=True):
            limiter.apply_remote(start, requests, tokens)
        for i, name in enumerate(names):
            breaker_fields, probes, stats_fields, latencies = results[4 * i : 4 * i + 4]
            breaker = self._breakers.get(name)
            if breaker is not None:
                breaker.apply_remote(breaker_fields, int(probes or 0))
            stats = self._stats.get(name)
            if stats is not None:
                stats.apply_remote(stats_fields, latencies)

    # -- the request path ------------------------------------------------------------------------------

    async def _acquire_probe(self, breaker: RedisCircuitBreaker) -> tuple[int, int] | None:
        """Ask Redis for a probe slot; None when Redis cannot answer (local view decides)."""
        if not self.connected:
            return None
        # Publish this breaker's own queued changes first, so Redis judges the latest state.
        if breaker._queued_seq != breaker._flushed_seq:
            await self.sync()
            if not self.connected:
                return None
        name = breaker.name
        try:
            code, opened = await self._redis().eval(
                _scripts.BREAKER_ACQUIRE,
                2,
                self.keys.breaker(name),
                self.keys.probe(name),
                epoch_ms(),
                int(breaker.policy.reset_timeout * 1000),
                breaker.policy.half_open_max_calls,
                self.probe_lease_ms,
                self.ttl_ms,
            )
        except REDIS_ERRORS as exc:
            self._link_failed(exc)
            return None
        return int(code), int(opened)

    # -- rate-limit budgets ---------------------------------------------------------------------------

    def _counter_key(self, name: str, window: float) -> tuple[str, int]:
        window_ms = int(window * 1000)
        start = epoch_ms() // window_ms * window_ms
        return self.keys.counter(name, start), window_ms

    async def reserve(self, name: str, amount: int, limit: int | None, window: float = 60.0) -> bool | None:
        """Add ``amount`` to the shared fixed-window counter ``name`` if it stays within ``limit``.

        Atomic across processes (a Lua script), so a budget such as "60 requests per minute"
        holds for the whole deployment.

        :returns: whether it was granted; None when Redis cannot answer (decide locally).
        """
        if not self.connected:
            return None
        key, window_ms = self._counter_key(name, window)
        try:
            granted, _total = await self._redis().eval(
                _scripts.COUNTER_RESERVE, 1, key, amount, "" if limit is None else limit, 2 * window_ms
            )
        except REDIS_ERRORS as exc:
            self._link_failed(exc)
            return None
        return bool(granted)

    async def usage(self, name: str, window: float = 60.0) -> int | None:
        """The shared counter ``name`` in the current window; None when Redis cannot answer."""
        if not self.connected:
            return None
        key, _ = self._counter_key(name, window)
        try:
            value = await self._redis().get(key)
        except REDIS_ERRORS as exc:
            self._link_failed(exc)
            return None
        return int(value or 0)

    # -- helpers for the cache ---------------------------------------------------------------------

    async def _call(self, method: str, *args: Any) -> Any:
        """``await client.<method>(*args)``; None when Redis cannot answer.

        During a known outage it does not even try (no request waits for a timeout); the
        sync task notices when Redis is back.
        """
        if not self.connected:
            return None
        try:
            return await getattr(self._redis(), method)(*args)
        except REDIS_ERRORS as exc:
            self._link_failed(exc)
            return None

    async def _pipeline(self, build: Callable[[Any], object]) -> bool:
        """Run the commands ``build(pipe)`` queues; False when Redis cannot answer."""
        if not self.connected:
            return False
        try:
            pipe = self._redis().pipeline(transaction=False)
            build(pipe)
            await pipe.execute()
        except REDIS_ERRORS as exc:
            self._link_failed(exc)
            return False
        return True

    async def _delete_matching(self, pattern: str) -> int:
        """Delete the keys matching ``pattern`` (SCAN, never KEYS); how many went."""
        deleted = 0
        try:
            client = self._redis()
            batch: list[str] = []
            async for key in client.scan_iter(match=pattern, count=500):
                batch.append(key)
                if len(batch) >= 500:
                    deleted += await client.delete(*batch)
                    batch = []
            if batch:
                deleted += await client.delete(*batch)
        except REDIS_ERRORS as exc:
            self._link_failed(exc)
        return deleted
