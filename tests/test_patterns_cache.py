"""The response cache: LRU, TTL (adaptive), keys, bypass, concurrency."""

from __future__ import annotations

import pytest
from claudette import BackendSettings, ClaudetteResponse, NoBackendAvailableError, RateLimitError
from claudette.cache import InMemoryResponseCache, cache_key, entry_ttl, is_time_sensitive
from claudette.config import parse_config
from claudette.types import CacheOptions
from test_patterns_support import FakeBackend, gather, make_router, req


class Clock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def answer(cost: float = 0.0) -> ClaudetteResponse:
    return ClaudetteResponse(content="x", backend_used="a", cost_eur=cost)


def cached_router(*backends: FakeBackend, **cache: object) -> object:
    return make_router(*backends, cache=CacheOptions(**cache))  # type: ignore[arg-type]


async def test_second_identical_request_is_a_free_cache_hit() -> None:
    a = FakeBackend("a", cost_per_token=0.001)
    router = cached_router(a)
    first = await router.route_request(req("capital of France?"))
    second = await router.route_request(req("capital of France?"))
    assert a.calls == 1
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert first.cost_eur > 0
    assert second.cost_eur == 0.0
    assert second.content == first.content
    assert router.counters.cache_hits == 1


async def test_use_cache_false_bypasses_the_cache() -> None:
    a = FakeBackend("a")
    router = cached_router(a)
    await router.route_request(req("q"))
    again = await router.route_request(req("q", use_cache=False))
    assert again.cache_hit is False
    assert a.calls == 2


async def test_cache_is_off_unless_configured() -> None:
    a = FakeBackend("a")
    router = make_router(a)
    await router.route_request(req("q"))
    assert (await router.route_request(req("q"))).cache_hit is False
    assert a.calls == 2


def test_key_ignores_whitespace_differences() -> None:
    assert cache_key(req("what  is\n2+2 ")) == cache_key(req("what is 2+2"))


@pytest.mark.parametrize(
    "other",
    [
        req("what is 3+3"),
        req("what is 2+2", options={"temperature": 0.5}),
        req("what is 2+2", options={"model": "big"}),
        req("what is 2+2", options={"max_tokens": 10}),
        req("what is 2+2", options={"stop": ["\n"]}),
        req("what is 2+2", backend="a"),
        req("what is 2+2", messages=[{"role": "system", "content": "be terse"}]),
    ],
)
def test_key_changes_with_what_changes_the_answer(other: object) -> None:
    assert cache_key(req("what is 2+2")) != cache_key(other)  # type: ignore[arg-type]


async def test_forced_requests_never_get_another_backends_answer() -> None:
    a, b = FakeBackend("a"), FakeBackend("b")
    router = cached_router(a, b)
    via_a = await router.route_request(req("q", backend="a"))
    via_b = await router.route_request(req("q", backend="b"))
    again_b = await router.route_request(req("q", backend="b"))
    assert (via_a.backend_used, via_b.backend_used) == ("a", "b")
    assert again_b.cache_hit and again_b.backend_used == "b"


async def test_failures_are_not_cached() -> None:
    a = FakeBackend("a", failures=[RateLimitError("slow down", "a")])
    router = make_router(a, cache=CacheOptions(), max_cooldown_wait=0.0)
    with pytest.raises(NoBackendAvailableError):
        await router.route_request(req("q"))
    response = await router.route_request(req("q"))
    assert response.cache_hit is False
    assert a.calls == 2


async def test_least_recently_used_entry_is_evicted() -> None:
    cache = InMemoryResponseCache(CacheOptions(max_entries=2))
    await cache.set("k1", answer(), 60)
    await cache.set("k2", answer(), 60)
    assert await cache.get("k1") is not None  # k1 is now the most recent
    await cache.set("k3", answer(), 60)
    assert await cache.get("k2") is None
    assert await cache.get("k1") is not None
    assert cache.snapshot()["evictions"] == 1


async def test_entries_expire_after_their_ttl() -> None:
    clock = Clock()
    cache = InMemoryResponseCache(CacheOptions(adaptive_ttl=False), clock=clock)
    await cache.set("k", answer(), 10)
    clock.now += 9.9
    assert await cache.get("k") is not None
    clock.now += 0.2
    assert await cache.get("k") is None
    assert len(cache) == 0


async def test_frequent_reads_lengthen_an_entry_up_to_max_ttl() -> None:
    clock = Clock()
    cache = InMemoryResponseCache(CacheOptions(ttl=100, max_ttl=150), clock=clock)
    await cache.set("k", answer(), 100)
    await cache.get("k")  # life 125
    assert cache.expires_in("k") == pytest.approx(125)
    for _ in range(5):
        await cache.get("k")
    assert cache.expires_in("k") == pytest.approx(150)


async def test_time_sensitive_entries_are_not_lengthened_by_reads() -> None:
    clock = Clock()
    cache = InMemoryResponseCache(CacheOptions(), clock=clock)
    await cache.set("k", answer(), 30, extendable=False)
    await cache.get("k")
    assert cache.expires_in("k") == pytest.approx(30)


def test_expensive_answers_live_longer() -> None:
    options = CacheOptions(ttl=100, max_ttl=1000)
    assert entry_ttl(options, req("q"), answer(0.0)) == 100
    assert entry_ttl(options, req("q"), answer(0.005)) == pytest.approx(150)
    assert entry_ttl(options, req("q"), answer(0.5)) == pytest.approx(200)


def test_time_sensitive_prompts_live_short() -> None:
    options = CacheOptions(ttl=300, time_sensitive_ttl=20)
    assert entry_ttl(options, req("What is the latest news today?"), answer(0.5)) == 20


def test_fixed_ttl_when_adaptive_is_off() -> None:
    options = CacheOptions(ttl=100, adaptive_ttl=False)
    assert entry_ttl(options, req("what happened today"), answer(1.0)) == 100


@pytest.mark.parametrize(
    ("prompt", "sensitive"),
    [
        ("What's the weather today?", True),
        ("Give me the latest Python release", True),
        ("Who is president right now", True),
        ("I know the answer", False),
        ("Explain recursion", False),
    ],
)
def test_time_sensitivity(prompt: str, sensitive: bool) -> None:
    assert is_time_sensitive(req(prompt)) is sensitive


async def test_identical_concurrent_requests_share_one_backend_call() -> None:
    a = FakeBackend("a", delay=0.02)
    router = cached_router(a)
    results = await gather(lambda i: router.route_request(req("same question")), 25)
    assert a.calls == 1
    assert sum(r.cache_hit for r in results) == 24
    assert {r.content for r in results} == {"a: same question"}
    assert router.counters.requests == 25


async def test_distinct_concurrent_requests_each_call_the_backend() -> None:
    a = FakeBackend("a", delay=0.01)
    router = cached_router(a)
    results = await gather(lambda i: router.route_request(req(f"question {i % 5}")), 20)
    assert a.calls == 5
    assert sum(r.cache_hit for r in results) == 15


async def test_concurrent_waiters_get_the_leaders_error() -> None:
    error = RateLimitError("slow down", "a", retryable=False)
    a = FakeBackend("a", delay=0.02, failures=[error])
    router = cached_router(a)
    results = await gather(lambda i: router.route_request(req("q")), 5)
    assert a.calls == 1
    assert all(isinstance(r, RateLimitError) for r in results)
    assert router.counters.failures == 5


async def test_cache_stats_are_reported() -> None:
    router = cached_router(FakeBackend("a"), max_entries=8)
    await router.route_request(req("q"))
    await router.route_request(req("q"))
    assert router.stats()["patterns"]["cache"] == {
        "entries": 1,
        "max_entries": 8,
        "hits": 1,
        "misses": 1,
        "evictions": 0,
    }


def test_cache_from_config() -> None:
    config = parse_config({"router": {"cache": {"max_entries": 50, "ttl": 60, "adaptive_ttl": False}}})
    assert config.router.cache == CacheOptions(max_entries=50, ttl=60.0, adaptive_ttl=False)


async def test_disabled_cache_table_means_no_cache() -> None:
    a = FakeBackend("a")
    config = parse_config({"router": {"health_checks": False, "cache": {"enabled": False}}})
    router = make_router(a, options=config.router)
    await router.route_request(req("q"))
    await router.route_request(req("q"))
    assert a.calls == 2


async def test_store_provides_the_cache() -> None:
    from claudette import InMemoryStateStore

    store = InMemoryStateStore()
    cache = store.response_cache(CacheOptions())
    assert store.response_cache(CacheOptions()) is cache
    a = FakeBackend("a", BackendSettings(model="m"))
    from claudette import BackendRouter, ClaudettePlugins, RouterOptions

    router = BackendRouter(
        RouterOptions(health_checks=False, cache=CacheOptions()),
        plugins=ClaudettePlugins(autoload=False),
        store=store,
    )
    router.register_backend(a)
    await router.route_request(req("q"))
    assert len(cache) == 1  # type: ignore[arg-type]
