"""Shared statistics: counts, latency window, failure time and cool-down."""

from __future__ import annotations

import time
from collections.abc import Callable

from claudette.redis_store import RedisStateStore


async def test_latency_windows_of_two_processes_merge_and_stay_bounded(
    make_store: Callable[..., RedisStateStore],
) -> None:
    a, b = make_store(window=4), make_store(window=4)
    sa, sb = a.stats("b"), b.stats("b")
    for ms in (10.0, 20.0, 30.0):
        sa.record_success(ms)
    await a.sync()
    for ms in (40.0, 50.0):
        sb.record_success(ms)
    await b.sync()
    await a.sync()
    assert sa.latencies == (20.0, 30.0, 40.0, 50.0)
    assert sb.latencies == (20.0, 30.0, 40.0, 50.0)
    assert sa.avg_latency_ms == 35.0


async def test_call_counts_add_up_across_processes(
    make_store: Callable[..., RedisStateStore],
) -> None:
    a, b = make_store(), make_store()
    sa, sb = a.stats("b"), b.stats("b")
    sa.record_success(5.0)
    sa.record_failure()
    sb.record_success(5.0)
    sb.record_outcome_without_fault()
    await a.sync()
    await b.sync()
    await a.sync()
    for s in (sa, sb):
        assert (s.calls, s.successes, s.failures) == (4, 2, 1)
        assert s.success_rate == 0.5


async def test_a_failure_in_one_process_raises_the_availability_score_in_another(
    make_store: Callable[..., RedisStateStore],
) -> None:
    a, b = make_store(), make_store()
    sa, sb = a.stats("b"), b.stats("b")
    for _ in range(5):
        sa.record_failure()
    await a.sync()
    await b.sync()
    assert sb.last_failure_at is not None
    assert abs(sb.last_failure_at - time.monotonic()) < 1.0
    assert sb.availability_score() == 0.5


async def test_a_rate_limit_cool_down_applies_to_every_process(
    make_store: Callable[..., RedisStateStore],
) -> None:
    a, b = make_store(), make_store()
    sb = b.stats("b")
    a.stats("b").start_cooldown(5.0)
    await a.sync()
    await b.sync()
    left = sb.cooldown_until - time.monotonic()
    assert 4.0 < left <= 5.0
    assert sb.in_cooldown(time.monotonic())


async def test_unpublished_local_changes_survive_a_refresh(
    make_store: Callable[..., RedisStateStore],
) -> None:
    a = make_store()
    sa = a.stats("b")
    sa.record_success(7.0)
    await a.sync()
    sa.record_success(9.0)  # not published yet
    await a.synchronizer.refresh()
    assert sa.calls == 2
    assert sa.latencies == (7.0, 9.0)


async def test_in_flight_stays_per_process(make_store: Callable[..., RedisStateStore]) -> None:
    a, b = make_store(), make_store()
    a.stats("b").in_flight = 3
    await a.sync()
    await b.sync()
    assert b.stats("b").in_flight == 0
