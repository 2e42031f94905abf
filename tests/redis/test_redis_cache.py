"""The response cache on Redis: an answer stored by one process is a hit in every other."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import redis
from _fakes import ScriptedBackend
from _redis_server import free_port
from claudette import BackendRouter, ClaudetteRequest, ClaudetteResponse, RouterOptions
from claudette.plugins import ClaudettePlugins
from claudette.redis_store import RedisStateStore
from claudette.types import CacheOptions

ANSWER = ClaudetteResponse(
    content="Paris", backend_used="b", model="m", tokens_input=3, tokens_output=1,
    cost_eur=0.002, latency_ms=12.5, finish_reason="stop", metadata={"request_id": "r1"},
)


async def test_an_answer_stored_by_one_process_is_returned_whole_by_another(
    make_store: Callable[..., RedisStateStore],
) -> None:
    a, b = make_store(), make_store()
    await a.response_cache(CacheOptions()).set("k1", ANSWER, 30.0)
    assert await b.response_cache(CacheOptions()).get("k1") == ANSWER
    assert b.response_cache(CacheOptions()).snapshot()["hits"] == 1


async def test_an_entry_expires_after_its_ttl(make_store: Callable[..., RedisStateStore]) -> None:
    cache = make_store().response_cache(CacheOptions(adaptive_ttl=False))
    await cache.set("k1", ANSWER, 0.2)
    await asyncio.sleep(0.3)
    assert await cache.get("k1") is None
    assert cache.snapshot()["misses"] == 1


async def test_reads_lengthen_an_extendable_entry_up_to_max_ttl(
    make_store: Callable[..., RedisStateStore], redis_client: redis.Redis
) -> None:
    store = make_store()
    cache = store.response_cache(CacheOptions(max_ttl=12.0))
    await cache.set("k1", ANSWER, 10.0)
    await cache.set("k2", ANSWER, 10.0, extendable=False)
    for _ in range(3):
        await cache.get("k1")
        await cache.get("k2")
    assert 11_500 < redis_client.pttl(store.keys.cache("k1")) <= 12_000  # 10 * 1.75, capped at 12
    assert redis_client.pttl(store.keys.cache("k2")) <= 10_000


async def test_clear_drops_only_this_namespaces_entries(
    make_store: Callable[..., RedisStateStore], namespace: str, redis_client: redis.Redis
) -> None:
    store = make_store()
    cache = store.response_cache(CacheOptions())
    await cache.set("k1", ANSWER, 30.0)
    redis_client.set(f"{namespace}-neighbour:cache:k1", "x", ex=30)
    try:
        await cache.clear()
        assert await cache.get("k1") is None
        assert redis_client.get(f"{namespace}-neighbour:cache:k1") == "x"
    finally:
        redis_client.delete(f"{namespace}-neighbour:cache:k1")


async def test_with_redis_down_the_cache_misses_and_requests_are_still_answered(
    make_store: Callable[..., RedisStateStore],
) -> None:
    store = make_store(url=f"redis://127.0.0.1:{free_port()}/0")
    backend = ScriptedBackend("b", 0.0)
    router = BackendRouter(
        RouterOptions(health_checks=False, cache=CacheOptions()),
        plugins=ClaudettePlugins(autoload=False),
        store=store,
    )
    router.register_backend(backend)
    for _ in range(3):
        response = await router.route_request(ClaudetteRequest(prompt="capital of France?"))
        assert (response.content, response.cache_hit) == ("b", False)
    assert backend.calls == 3
    assert store.outages == 1


async def test_a_second_router_process_is_answered_from_the_first_ones_cache(
    make_store: Callable[..., RedisStateStore],
) -> None:
    routers, backends = [], []
    for _ in range(2):
        backend = ScriptedBackend("b", 0.0)
        router = BackendRouter(
            RouterOptions(health_checks=False, cache=CacheOptions()),
            plugins=ClaudettePlugins(autoload=False),
            store=make_store(),
        )
        router.register_backend(backend)
        routers.append(router)
        backends.append(backend)
    request = ClaudetteRequest(prompt="capital of France?")
    first = await routers[0].route_request(request)
    second = await routers[1].route_request(request)
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert second.content == first.content
    assert [b.calls for b in backends] == [1, 0]
