"""The store as the router uses it: a StateStore that keeps one object per backend."""

from __future__ import annotations

from collections.abc import Callable

import redis
from claudette import BreakerPolicy
from claudette.budget import SpendLedger
from claudette.ratelimit import RateLimiter
from claudette.redis_store import RedisResponseCache, RedisStateStore
from claudette.state import StateStore
from claudette.types import BudgetOptions, CacheOptions

POLICY = BreakerPolicy(failure_threshold=3, reset_timeout=60.0)


def test_the_redis_store_is_a_state_store() -> None:
    assert isinstance(RedisStateStore("redis://127.0.0.1:1/0"), StateStore)


def test_each_factory_returns_one_object_per_backend_and_per_store() -> None:
    store = RedisStateStore("redis://127.0.0.1:1/0")
    assert store.stats("b") is store.stats("b")
    assert store.stats("b") is not store.stats("c")
    assert store.breaker("b", POLICY) is store.breaker("b", POLICY)
    limiter = store.rate_limiter("b", 10, 1000)
    assert isinstance(limiter, RateLimiter)
    assert store.rate_limiter("b", 10, 1000) is limiter
    cache = store.response_cache(CacheOptions())
    assert isinstance(cache, RedisResponseCache)
    assert store.response_cache(CacheOptions()) is cache
    ledger = store.spend_ledger(BudgetOptions(limit_eur=5.0))
    assert isinstance(ledger, SpendLedger)
    assert store.spend_ledger(BudgetOptions(limit_eur=5.0)) is ledger


async def test_forget_drops_this_process_view_and_keeps_the_shared_keys(
    make_store: Callable[..., RedisStateStore], redis_client: redis.Redis
) -> None:
    a, b = make_store(), make_store()
    first = a.stats("x")
    first.record_success(10.0)
    a.breaker("x", POLICY).record_failure()
    assert await a.sync()
    a.forget("x")
    assert a.stats("x") is not first
    assert a.stats("x").calls == 0  # a fresh local view, until the next refresh
    assert a.breaker("x", POLICY).consecutive_failures == 0
    assert redis_client.hget(a.keys.stats("x"), "calls") == "1"
    assert redis_client.hget(a.keys.breaker("x"), "failures") == "1"
    other_stats, other_breaker = b.stats("x"), b.breaker("x", POLICY)
    assert await b.sync()
    assert (other_stats.calls, other_breaker.consecutive_failures) == (1, 1)
