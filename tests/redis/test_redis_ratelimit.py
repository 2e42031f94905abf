"""rpm/tpm limits counted across processes (the router's rate limiter on Redis)."""

from __future__ import annotations

from collections.abc import Callable

from _fakes import ScriptedBackend
from claudette import BackendRouter, BackendSettings, ClaudetteRequest, RouterOptions
from claudette.plugins import ClaudettePlugins
from claudette.redis_store import RedisRateLimiter, RedisStateStore


async def test_each_process_sees_the_requests_the_others_made_this_minute(
    make_store: Callable[..., RedisStateStore],
) -> None:
    a, b = make_store(), make_store()
    la, lb = a.rate_limiter("b", 10, 1000), b.rate_limiter("b", 10, 1000)
    assert isinstance(la, RedisRateLimiter)
    for _ in range(3):
        la.acquire(100)
    lb.acquire(50)
    await a.sync()
    await b.sync()
    await a.sync()
    assert la.remaining() == (6, 650)
    assert lb.remaining() == (6, 650)


async def test_settled_token_usage_replaces_the_estimate_everywhere(
    make_store: Callable[..., RedisStateStore],
) -> None:
    a, b = make_store(), make_store()
    la, lb = a.rate_limiter("b", None, 1000), b.rate_limiter("b", None, 1000)
    event = la.acquire(400)
    la.settle(event, 150)
    await a.sync()
    await b.sync()
    assert lb.remaining() == (None, 850)


async def test_a_shared_rpm_limit_sends_the_overflow_to_another_backend(
    make_store: Callable[..., RedisStateStore],
) -> None:
    routers, limited = [], []
    for _ in range(2):
        store = make_store()
        cheap = ScriptedBackend("cheap", 0.0)
        cheap.settings = BackendSettings(cost_per_token=0.0, model="m", rpm=6)
        router = BackendRouter(
            RouterOptions(health_checks=False, max_cooldown_wait=0.0),
            plugins=ClaudettePlugins(autoload=False),
            store=store,
        )
        router.register_backend(cheap)
        router.register_backend(ScriptedBackend("dear", 1.0))
        routers.append(router)
        limited.append(cheap)
    answers = []
    for i in range(10):  # the two processes take turns; each syncs after its call
        router = routers[i % 2]
        answers.append((await router.route_request(ClaudetteRequest(prompt=f"q{i}"))).backend_used)
        await router.store.sync()  # type: ignore[attr-defined]
        await routers[(i + 1) % 2].store.sync()  # type: ignore[attr-defined]
    assert sum(b.calls for b in limited) == 6
    assert answers == ["cheap"] * 6 + ["dear"] * 4
