"""The :class:`RedisStateStore`: one shared view of every backend for many processes."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from claudette.errors import ConfigError, ConfigProblem
from claudette.redis_store import _scripts
from claudette.redis_store._cache import RedisResponseCache
from claudette.redis_store._clock import epoch_ms
from claudette.redis_store._keys import KeyLayout
from claudette.redis_store._link import RedisLink
from claudette.redis_store._objects import RedisBackendStats, RedisCircuitBreaker
from claudette.redis_store._ratelimit import RedisRateLimiter
from claudette.redis_store._sync import Synchronizer
from claudette.types import BreakerPolicy

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from claudette.budget import SpendLedger
    from claudette.types import BudgetOptions, CacheOptions

__all__ = ["RedisStateStore"]

#: The ``[state]`` keys this store understands, with their defaults.
DEFAULTS: dict[str, Any] = {
    "namespace": "claudette",
    "refresh_interval": 0.5,
    "timeout": 0.25,
    "ttl": 86400.0,
    "probe_lease": 60.0,
    "queue_size": 10_000,
}


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
        #: The connection to Redis (the response cache uses it directly).
        self.link = RedisLink(url, timeout, client)
        #: Keeps the shared objects in step with Redis (they report their changes to it).
        self.synchronizer = Synchronizer(
            self.link,
            self.keys,
            window=window,
            refresh_interval=refresh_interval,
            ttl_ms=self.ttl_ms,
            probe_lease_ms=self.probe_lease_ms,
            queue_size=queue_size,
        )
        # The sync task is what notices that Redis is back after a failed call.
        self.link.on_failure = self.synchronizer.ensure_started
        self._cache: RedisResponseCache | None = None
        self._ledger: SpendLedger | None = None

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
        return f"<RedisStateStore {self.link.location} namespace={self.keys.namespace!r}>"

    @property
    def connected(self) -> bool:
        """False after a failed Redis call, until one succeeds again."""
        return self.link.connected

    @property
    def outages(self) -> int:
        """Warnings logged about Redis being unreachable (one per outage)."""
        return self.link.outages

    # -- the StateStore interface -------------------------------------------------------------

    def stats(self, backend: str) -> RedisBackendStats:
        """The shared statistics of ``backend`` (created on first use)."""
        known = self.synchronizer.stats
        s = known.get(backend)
        if s is None:
            s = known[backend] = RedisBackendStats(backend, self, self.window)
            self.synchronizer.start()
        return s

    def breaker(self, backend: str, policy: BreakerPolicy) -> RedisCircuitBreaker:
        """The shared circuit breaker of ``backend``, created with ``policy`` on first use."""
        known = self.synchronizer.breakers
        b = known.get(backend)
        if b is None:
            b = known[backend] = RedisCircuitBreaker(backend, policy, self)
            self.synchronizer.start()
        return b

    def rate_limiter(self, backend: str, rpm: int | None, tpm: int | None) -> RedisRateLimiter:
        """The rpm/tpm limiter of ``backend``, counting every process's calls."""
        known = self.synchronizer.limiters
        limiter = known.get(backend)
        if limiter is None:
            limiter = known[backend] = RedisRateLimiter(backend, self, rpm, tpm)
            self.synchronizer.start()
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
        self.synchronizer.forget(backend)

    async def aclose(self) -> None:
        """Publish what is pending (best effort), stop the background task, disconnect."""
        await self.synchronizer.aclose()
        await self.link.aclose()

    # -- syncing now -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background task now and load the shared view once."""
        self.synchronizer.start()
        await self.synchronizer.sync()

    async def sync(self) -> bool:
        """Publish pending changes, then refresh every local view from Redis, now.

        :returns: whether Redis answered.
        """
        return await self.synchronizer.sync()

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
        key, window_ms = self._counter_key(name, window)

        async def add(client: aioredis.Redis) -> bool:
            granted, _total = await client.eval(
                _scripts.COUNTER_RESERVE, 1, key, amount, "" if limit is None else limit, 2 * window_ms
            )
            return bool(granted)

        return await self.link.run(add)

    async def usage(self, name: str, window: float = 60.0) -> int | None:
        """The shared counter ``name`` in the current window; None when Redis cannot answer."""
        key, _ = self._counter_key(name, window)

        async def read(client: aioredis.Redis) -> int:
            return int(await client.get(key) or 0)

        return await self.link.run(read)
