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
