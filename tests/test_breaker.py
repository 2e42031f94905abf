"""CircuitBreaker: CLOSED → OPEN → HALF_OPEN, one half-open probe, policy-driven failures."""

from __future__ import annotations

import asyncio

import pytest
from claudette import (
    BreakerPolicy,
    CircuitBreaker,
    CircuitBreakerState,
    InvalidRequestError,
    RateLimitError,
)
from claudette.breaker import BreakerOpenError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(threshold: int = 5, reset: float = 300.0) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker("a", BreakerPolicy(failure_threshold=threshold, reset_timeout=reset), clock=clock), clock


def test_starts_closed_and_allows_calls():
    breaker, _ = make()
    assert breaker.state is CircuitBreakerState.CLOSED
    assert breaker.allows_request()


def test_opens_after_threshold_consecutive_failures():
    breaker, _ = make(threshold=5)
    for _ in range(4):
        breaker.record_failure()
    assert breaker.state is CircuitBreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is CircuitBreakerState.OPEN
    assert not breaker.try_acquire()


def test_success_in_closed_resets_the_failure_count():
    breaker, _ = make(threshold=3)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is CircuitBreakerState.CLOSED


def test_open_turns_half_open_after_the_reset_timeout():
    breaker, clock = make(threshold=1, reset=300)
    breaker.record_failure()
    clock.now += 299.9
    assert breaker.state is CircuitBreakerState.OPEN
    clock.now += 0.1
    assert breaker.state is CircuitBreakerState.HALF_OPEN


def test_half_open_lets_exactly_one_probe_through():
    breaker, clock = make(threshold=1, reset=10)
    breaker.record_failure()
    clock.now += 10
    assert breaker.try_acquire()
    assert not breaker.try_acquire()
    assert not breaker.allows_request()


async def test_acquire_takes_permission_as_try_acquire_does():
    breaker, clock = make(threshold=1, reset=10)
    assert await breaker.acquire()  # closed: always
    breaker.record_failure()
    assert not await breaker.acquire()  # open
    clock.now += 10
    assert await breaker.acquire()  # half-open: the one probe slot ...
    assert not await breaker.acquire()  # ... is taken


def test_successful_probe_closes_the_breaker():
    breaker, clock = make(threshold=1, reset=10)
    breaker.record_failure()
    clock.now += 10
    assert breaker.try_acquire()
    breaker.record_success()
    assert breaker.state is CircuitBreakerState.CLOSED
    assert breaker.try_acquire() and breaker.try_acquire()


def test_failed_probe_reopens_for_a_full_reset_timeout():
    breaker, clock = make(threshold=1, reset=10)
    breaker.record_failure()
    clock.now += 10
    assert breaker.try_acquire()
    breaker.record_failure()
    assert breaker.state is CircuitBreakerState.OPEN
    clock.now += 9.9
    assert breaker.state is CircuitBreakerState.OPEN


def test_released_probe_slot_can_be_taken_again():
    breaker, clock = make(threshold=1, reset=10)
    breaker.record_failure()
    clock.now += 10
    assert breaker.try_acquire()
    breaker.release()
    assert breaker.state is CircuitBreakerState.HALF_OPEN
    assert breaker.try_acquire()


def test_client_errors_are_not_failures_by_default():
    breaker, _ = make(threshold=1)
    assert not breaker.record_error(InvalidRequestError("bad", "a", status_code=400))
    assert breaker.state is CircuitBreakerState.CLOSED
    assert breaker.record_error(RateLimitError("slow", "a", status_code=429))
    assert breaker.state is CircuitBreakerState.OPEN


def test_policy_decides_which_errors_count():
    policy = BreakerPolicy(failure_threshold=1, counts_as_failure=lambda e: e.status_code == 500)
    breaker = CircuitBreaker("a", policy)
    breaker.record_error(RateLimitError("slow", "a", status_code=429))
    assert breaker.state is CircuitBreakerState.CLOSED


def test_transitions_are_reported_in_order():
    breaker, clock = make(threshold=1, reset=5)
    moves = []
    breaker.on_transition = lambda b, old, new: moves.append((old.value, new.value))
    breaker.record_failure()
    clock.now += 5
    assert breaker.try_acquire()
    breaker.record_success()
    assert moves == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


async def test_one_probe_under_concurrency_via_call():
    breaker, clock = make(threshold=1, reset=1)
    breaker.record_failure()
    clock.now += 1
    started = 0

    async def probe() -> str:
        nonlocal started
        started += 1
        await asyncio.sleep(0.05)
        return "ok"

    results = await asyncio.gather(*(breaker.call(probe) for _ in range(20)), return_exceptions=True)
    assert started == 1
    assert results.count("ok") == 1
    assert sum(isinstance(r, BreakerOpenError) for r in results) == 19
    assert breaker.state is CircuitBreakerState.CLOSED


async def test_cancelled_call_frees_the_probe_slot():
    breaker, clock = make(threshold=1, reset=1)
    breaker.record_failure()
    clock.now += 1

    async def hang() -> None:
        await asyncio.sleep(10)

    task = asyncio.create_task(breaker.call(hang))
    await asyncio.sleep(0.01)
    assert not breaker.allows_request()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.allows_request()
    assert breaker.state is CircuitBreakerState.HALF_OPEN


OPEN, CLOSED, HALF_OPEN = CircuitBreakerState.OPEN, CircuitBreakerState.CLOSED, CircuitBreakerState.HALF_OPEN


def test_the_defaults_are_the_measured_ones():
    p = BreakerPolicy()
    assert (p.failure_threshold, p.reset_timeout, p.half_open_max_calls) == (10, 5.0, 1)
    assert (p.failure_rate_threshold, p.window_size, p.minimum_calls) == (0.6, 50, 20)
    assert (p.reset_timeout_growth, p.max_reset_timeout) == (2.0, 300.0)


def test_a_failure_rate_over_the_window_opens_the_breaker_without_a_run_of_failures():
    clock = Clock()
    breaker = CircuitBreaker("a", BreakerPolicy(window_size=10, minimum_calls=10), clock=clock)
    for _ in range(6):  # fail, fail, succeed: never three in a row, 2/3 of the calls
        breaker.record_failure()
        breaker.record_failure()
        breaker.record_success()
        if breaker.state is OPEN:
            break
    assert breaker.state is OPEN
    assert breaker.consecutive_failures < 3


def test_the_failure_rate_waits_for_the_minimum_number_of_calls():
    breaker = CircuitBreaker("a", BreakerPolicy(minimum_calls=20), clock=Clock())
    for _ in range(9):  # 9 of 9 failed, below both the run and the minimum
        breaker.record_failure()
    assert breaker.failure_rate is None
    assert breaker.state is CLOSED


def test_thirty_percent_failures_never_open_the_default_breaker():
    breaker = CircuitBreaker("a", BreakerPolicy(), clock=Clock())
    for i in range(10_000):
        if i % 10 in (0, 3, 6):
            breaker.record_failure()
        else:
            breaker.record_success()
    assert breaker.state is CLOSED


def test_the_open_period_doubles_on_repeated_trips_up_to_its_cap():
    clock = Clock()
    breaker = CircuitBreaker("a", BreakerPolicy(failure_threshold=1, reset_timeout=5.0, max_reset_timeout=30.0), clock=clock)
    periods = []
    breaker.record_failure()
    for _ in range(5):
        periods.append(breaker.open_for)
        clock.now += breaker.open_for
        assert breaker.state is HALF_OPEN and breaker.try_acquire()
        breaker.record_failure()  # the probe fails: a repeated trip
    assert periods == [5.0, 10.0, 20.0, 30.0, 30.0]


def test_a_trip_long_after_the_breaker_closed_starts_again_at_reset_timeout():
    clock = Clock()
    breaker = CircuitBreaker("a", BreakerPolicy(failure_threshold=1, reset_timeout=5.0, max_reset_timeout=60.0), clock=clock)
    breaker.record_failure()
    clock.now += 5.0
    assert breaker.try_acquire()
    breaker.record_failure()
    assert breaker.open_for == 10.0
    clock.now += 10.0
    assert breaker.try_acquire()
    breaker.record_success()
    breaker.record_failure()  # right after closing: a repeat
    assert breaker.open_for == 20.0
    clock.now += 20.0
    assert breaker.try_acquire()
    breaker.record_success()
    clock.now += 61.0  # closed longer than the longest period
    breaker.record_failure()
    assert (breaker.trips, breaker.open_for) == (1, 5.0)


def test_the_original_fixed_policy_stays_reachable():
    clock = Clock()
    policy = BreakerPolicy(failure_threshold=5, reset_timeout=300.0, reset_timeout_growth=1.0)
    breaker = CircuitBreaker("a", policy, clock=clock)
    for _ in range(4):
        breaker.record_failure()
    assert breaker.state is CLOSED
    breaker.record_failure()
    assert breaker.state is OPEN and breaker.open_for == 300.0
    clock.now += 300.0
    assert breaker.try_acquire()
    breaker.record_failure()
    assert breaker.open_for == 300.0


def test_an_early_probe_takes_the_one_slot_and_its_success_closes_the_breaker():
    breaker, _ = make(threshold=1, reset=60.0)
    breaker.record_failure()
    assert not breaker.try_acquire()
    assert breaker.try_acquire_early()
    assert not breaker.try_acquire_early()  # one probe at a time
    breaker.record_success()
    assert breaker.state is CLOSED


def test_a_failed_early_probe_starts_the_open_period_again_and_frees_its_slot():
    breaker, clock = make(threshold=1, reset=60.0)
    breaker.record_failure()
    clock.now += 50.0
    assert breaker.try_acquire_early()
    breaker.record_failure()
    assert breaker.state is OPEN and breaker.seconds_until_probe == 60.0
    assert breaker.try_acquire_early()


def test_a_success_in_open_without_a_probe_does_not_close_the_breaker():
    breaker, _ = make(threshold=1, reset=60.0)
    breaker.record_failure()
    breaker.record_success()  # a call that started before the breaker opened
    assert breaker.state is OPEN


@pytest.mark.parametrize(
    ("field", "value"),
    [("failure_rate_threshold", 0.0), ("failure_rate_threshold", 1.5), ("reset_timeout_growth", 0.5), ("window_size", 0)],
)
def test_policy_values_are_validated(field, value):
    with pytest.raises(ValueError, match=field):
        BreakerPolicy(**{field: value})


def test_minimum_calls_may_not_exceed_the_window():
    with pytest.raises(ValueError, match="minimum_calls must not exceed window_size"):
        BreakerPolicy(window_size=10, minimum_calls=11)


@pytest.mark.xfail(
    strict=True,
    reason="known bug: release() cannot tell a probe from a call admitted before the breaker "
    "opened, so cancelling such a call frees the probe slot and a second probe is let through",
)
def test_cancelling_a_call_from_before_the_trip_keeps_the_probe_slot_taken():
    """The case the breaker property test (tests/chaos) finds, at the default policy users
    get: calls admitted while CLOSED, enough of them failing to open the breaker, and one
    left over that is cancelled while the half-open probe is in flight."""
    clock = Clock()
    breaker = CircuitBreaker("a", BreakerPolicy(), clock=clock)
    threshold = breaker.policy.failure_threshold
    assert all(breaker.try_acquire() for _ in range(threshold + 1))  # admitted while CLOSED
    for _ in range(threshold):
        breaker.record_failure()
    assert breaker.state is CircuitBreakerState.OPEN
    clock.now += breaker.seconds_until_probe
    assert breaker.state is CircuitBreakerState.HALF_OPEN
    probes = breaker.policy.half_open_max_calls
    assert all(breaker.try_acquire() for _ in range(probes))  # every probe slot taken
    assert not breaker.try_acquire()
    breaker.release()  # the call left over from before the trip is cancelled
    assert not breaker.try_acquire(), "a probe was let through beyond half_open_max_calls"
