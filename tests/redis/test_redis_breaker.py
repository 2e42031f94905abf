"""The shared circuit breaker: one state and one failure count for every process.

Each ``RedisStateStore`` here stands for one router process (they share nothing but Redis).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import redis
from claudette import BreakerPolicy, CircuitBreakerState
from claudette.redis_store import RedisStateStore

CLOSED, OPEN, HALF_OPEN = CircuitBreakerState.CLOSED, CircuitBreakerState.OPEN, CircuitBreakerState.HALF_OPEN
FAST = BreakerPolicy(failure_threshold=3, reset_timeout=0.2)


async def _open_everywhere(stores: list[RedisStateStore], policy: BreakerPolicy = FAST) -> None:
    first = stores[0].breaker("b", policy)
    for _ in range(policy.failure_threshold):
        first.record_failure()
    for store in stores:
        await store.sync()
        store.breaker("b", policy)
    for store in stores:
        await store.sync()


async def test_failures_seen_by_two_processes_add_up_to_the_threshold(
    make_store: Callable[..., RedisStateStore], redis_client: redis.Redis
) -> None:
    a, b = make_store(), make_store()
    ba, bb = a.breaker("b", FAST), b.breaker("b", FAST)
    ba.record_failure()
    ba.record_failure()
    await a.sync()
    bb.record_failure()  # the third failure overall, the first b has seen
    await b.sync()
    await a.sync()
    assert (ba.state, bb.state) == (OPEN, OPEN)
    assert redis_client.hgetall(a.keys.breaker("b"))["state"] == "open"
    assert redis_client.hget(a.keys.breaker("b"), "failures") == "3"


async def test_a_breaker_opened_by_one_process_is_open_in_the_others_after_a_refresh(
    make_store: Callable[..., RedisStateStore],
) -> None:
    a, b = make_store(), make_store()
    watcher = b.breaker("b", FAST)
    await _open_everywhere([a, b])
    assert watcher.state is OPEN
    assert not watcher.allows_request()


async def test_a_success_anywhere_resets_the_shared_failure_count(
    make_store: Callable[..., RedisStateStore], redis_client: redis.Redis
) -> None:
    a, b = make_store(), make_store()
    ba, bb = a.breaker("b", FAST), b.breaker("b", FAST)
    ba.record_failure()
    ba.record_failure()
    await a.sync()
    await b.sync()
    assert bb.consecutive_failures == 2
    bb.record_success()
    await b.sync()
    await a.sync()
    assert redis_client.hget(a.keys.breaker("b"), "failures") == "0"
    assert ba.consecutive_failures == 0


async def test_exactly_one_of_five_processes_gets_the_half_open_probe(
    make_store: Callable[..., RedisStateStore], redis_client: redis.Redis
) -> None:
    stores = [make_store() for _ in range(5)]
    await _open_everywhere(stores)
    await asyncio.sleep(FAST.reset_timeout + 0.05)
    granted = await asyncio.gather(*(s.breaker("b", FAST).acquire() for s in stores))
    assert sorted(granted) == [False, False, False, False, True]
    assert redis_client.get(stores[0].keys.probe("b")) == "1"
    assert redis_client.hget(stores[0].keys.breaker("b"), "state") == "half_open"


async def test_processes_that_lost_the_probe_skip_the_backend_until_it_is_decided(
    make_store: Callable[..., RedisStateStore],
) -> None:
    a, b = make_store(), make_store()
    await _open_everywhere([a, b])
    await asyncio.sleep(FAST.reset_timeout + 0.05)
    assert await a.breaker("b", FAST).acquire() is True
    assert await b.breaker("b", FAST).acquire() is False
    assert b.breaker("b", FAST).allows_request() is False
    await b.sync()
    assert b.breaker("b", FAST).state is HALF_OPEN
    assert b.breaker("b", FAST).allows_request() is False


async def test_a_successful_probe_closes_the_breaker_in_every_process(
    make_store: Callable[..., RedisStateStore],
) -> None:
    a, b = make_store(), make_store()
    await _open_everywhere([a, b])
    await asyncio.sleep(FAST.reset_timeout + 0.05)
    prober = a.breaker("b", FAST)
    assert await prober.acquire()
    prober.record_success()
    await a.sync()
    await b.sync()
    assert (prober.state, b.breaker("b", FAST).state) == (CLOSED, CLOSED)
    assert await b.breaker("b", FAST).acquire() is True


async def test_a_failed_probe_reopens_the_breaker_in_every_process(
    make_store: Callable[..., RedisStateStore], redis_client: redis.Redis
) -> None:
    a, b = make_store(), make_store()
    await _open_everywhere([a, b])
    await asyncio.sleep(FAST.reset_timeout + 0.05)
    prober = a.breaker("b", FAST)
    assert await prober.acquire()
    prober.record_failure()
    await a.sync()
    await b.sync()
    assert b.breaker("b", FAST).state is OPEN
    assert redis_client.exists(a.keys.probe("b")) == 0


async def test_a_cancelled_probe_gives_its_slot_to_another_process(
    make_store: Callable[..., RedisStateStore],
) -> None:
    a, b = make_store(), make_store()
    await _open_everywhere([a, b])
    await asyncio.sleep(FAST.reset_timeout + 0.05)
    prober = a.breaker("b", FAST)
    assert await prober.acquire()
    assert await b.breaker("b", FAST).acquire() is False
    prober.release()
    await a.sync()
    await b.sync()
    assert await b.breaker("b", FAST).acquire() is True


async def test_the_probe_lease_expires_when_the_prober_dies(
    make_store: Callable[..., RedisStateStore],
) -> None:
    a, b = make_store(probe_lease=0.3), make_store(probe_lease=0.3)
    await _open_everywhere([a, b])
    await asyncio.sleep(FAST.reset_timeout + 0.05)
    assert await a.breaker("b", FAST).acquire()  # ... and a never reports back
    assert await b.breaker("b", FAST).acquire() is False
    await asyncio.sleep(0.35)
    await b.sync()
    assert await b.breaker("b", FAST).acquire() is True


async def test_a_closed_breaker_acquires_without_asking_redis(
    make_store: Callable[..., RedisStateStore],
) -> None:
    from _redis_server import free_port

    nowhere = make_store(url=f"redis://127.0.0.1:{free_port()}/0")
    assert await nowhere.breaker("b", FAST).acquire() is True
    assert nowhere.connected is True  # no call was even attempted
    assert nowhere.outages == 0


async def test_successes_on_a_healthy_closed_breaker_publish_nothing(
    make_store: Callable[..., RedisStateStore], redis_client: redis.Redis
) -> None:
    store = make_store()
    breaker = store.breaker("b", FAST)
    for _ in range(100):
        breaker.record_success()
    assert breaker.has_pending is False
    assert await store.sync()
    assert redis_client.exists(store.keys.breaker("b")) == 0


async def test_an_operator_reset_closes_the_breaker_everywhere(
    make_store: Callable[..., RedisStateStore],
) -> None:
    a, b = make_store(), make_store()
    await _open_everywhere([a, b], BreakerPolicy(failure_threshold=1, reset_timeout=60))
    a.breaker("b", FAST).reset()
    await a.sync()
    await b.sync()
    assert b.breaker("b", FAST).state is CLOSED


RATE = BreakerPolicy(
    failure_threshold=100, reset_timeout=0.2, failure_rate_threshold=0.5, window_size=10, minimum_calls=4
)
GROWING = BreakerPolicy(failure_threshold=2, reset_timeout=0.2, reset_timeout_growth=3.0, max_reset_timeout=10.0)


async def test_a_failure_rate_trip_in_one_process_opens_the_breaker_everywhere(
    make_store: Callable[..., RedisStateStore], redis_client: redis.Redis
) -> None:
    a, b = make_store(), make_store()
    ba, bb = a.breaker("b", RATE), b.breaker("b", RATE)
    for ok in (True, False, True, False):  # 50 % of 4 calls: the rate opens it
        ba.record_success() if ok else ba.record_failure()
    assert ba.state is OPEN and ba.consecutive_failures == 1
    await a.sync()
    await b.sync()
    fields = redis_client.hgetall(a.keys.breaker("b"))
    assert (fields["state"], fields["trips"], fields["open_for"]) == ("open", "1", "200")
    assert bb.state is OPEN


async def test_the_open_period_grows_on_repeated_trips_and_every_process_sees_it(
    make_store: Callable[..., RedisStateStore], redis_client: redis.Redis
) -> None:
    a, b = make_store(), make_store()
    ba, bb = a.breaker("b", GROWING), b.breaker("b", GROWING)
    await _open_everywhere([a, b], GROWING)
    await asyncio.sleep(GROWING.reset_timeout + 0.05)
    assert await ba.acquire()  # the half-open probe ...
    ba.record_failure()  # ... fails: a repeated trip, three times as long
    await a.sync()
    await b.sync()
    fields = redis_client.hgetall(a.keys.breaker("b"))
    assert (fields["trips"], fields["open_for"]) == ("2", "600")
    assert bb.state is OPEN and bb.trips == 2
    assert bb.open_for == 0.6 and bb.seconds_until_probe > 0.4


async def test_one_early_probe_across_processes_and_its_success_closes_the_breaker(
    make_store: Callable[..., RedisStateStore], redis_client: redis.Redis
) -> None:
    stores = [make_store() for _ in range(3)]
    slow = BreakerPolicy(failure_threshold=3, reset_timeout=60.0)
    await _open_everywhere(stores, slow)
    granted = await asyncio.gather(*(s.breaker("b", slow).acquire_early() for s in stores))
    assert sorted(granted) == [False, False, True]
    [(probing, prober)] = [(s, s.breaker("b", slow)) for s, g in zip(stores, granted, strict=True) if g]
    prober.record_success()
    await probing.sync()  # the prober's process publishes the close first ...
    for store in stores:
        await store.sync()  # ... and every process then reads it
    assert redis_client.hget(stores[0].keys.breaker("b"), "state") == "closed"
    assert {s.breaker("b", slow).state for s in stores} == {CLOSED}
