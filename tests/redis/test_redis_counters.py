"""The strict shared counter primitive ``reserve`` (an atomic budget for any process)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from claudette.redis_store import RedisStateStore

#: A window long enough that a test never straddles two of them (in practice).
HOUR = 3600.0


async def test_reserve_grants_up_to_the_limit_and_refuses_the_rest(
    make_store: Callable[..., RedisStateStore],
) -> None:
    store = make_store()
    results = [await store.reserve("rpm:b", 1, 3, HOUR) for _ in range(5)]
    assert results == [True, True, True, False, False]
    assert await store.usage("rpm:b", HOUR) == 3


async def test_a_token_reservation_that_would_overshoot_is_refused_whole(
    make_store: Callable[..., RedisStateStore],
) -> None:
    store = make_store()
    assert await store.reserve("tpm:b", 800, 1000, HOUR)
    assert not await store.reserve("tpm:b", 300, 1000, HOUR)
    assert await store.reserve("tpm:b", 200, 1000, HOUR)
    assert await store.usage("tpm:b", HOUR) == 1000


async def test_concurrent_reservations_from_many_stores_never_exceed_the_limit(
    make_store: Callable[..., RedisStateStore],
) -> None:
    stores = [make_store() for _ in range(4)]
    results = await asyncio.gather(*(s.reserve("rpm:b", 1, 25, HOUR) for s in stores for _ in range(20)))
    assert results.count(True) == 25
    assert await stores[0].usage("rpm:b", HOUR) == 25


async def test_a_new_window_starts_a_new_count(make_store: Callable[..., RedisStateStore]) -> None:
    store = make_store()
    assert await store.reserve("rpm:b", 2, 2, window=0.2)
    await asyncio.sleep(0.25)
    assert await store.usage("rpm:b", window=0.2) == 0
    assert await store.reserve("rpm:b", 2, 2, window=0.2)
