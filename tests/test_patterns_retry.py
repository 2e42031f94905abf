"""Retry with exponential backoff and jitter, per backend, before fallback."""

from __future__ import annotations

import time

import claudette.retry
import pytest
from claudette import (
    BackendSettings,
    BackendUnavailableError,
    BreakerPolicy,
    InvalidRequestError,
    RateLimitError,
    hookimpl,
)
from claudette.config import parse_config
from claudette.retry import backoff_delay
from test_patterns_support import FakeBackend, gather, make_router, req


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, float | None]]:
    """Backoff delays of 1 ms, recording (retry number, retry_after) of each."""
    calls: list[tuple[int, float | None]] = []

    def fast(retry: int, retry_after: float | None = None) -> float:
        calls.append((retry, retry_after))
        return 0.001

    monkeypatch.setattr(claudette.retry, "backoff_delay", fast)
    return calls


def down(name: str = "a") -> BackendUnavailableError:
    return BackendUnavailableError("503", name, status_code=503)


@pytest.mark.parametrize(("retry", "base"), [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (7, 8.0)])
def test_backoff_is_exponential_and_capped(retry: int, base: float) -> None:
    assert backoff_delay(retry, rng=lambda: 0.0) == pytest.approx(base)
    assert backoff_delay(retry, rng=lambda: 0.999999) == pytest.approx(base * 0.75, rel=1e-5)


def test_jitter_stays_between_three_quarters_and_all_of_the_delay() -> None:
    delays = [backoff_delay(2) for _ in range(500)]
    assert min(delays) >= 1.5
    assert max(delays) <= 2.0
    assert max(delays) - min(delays) > 0.2  # it really varies


def test_retry_after_is_honoured_up_to_a_minute() -> None:
    assert backoff_delay(0, retry_after=3.0) == 3.0
    assert backoff_delay(0, retry_after=120.0, rng=lambda: 0.0) == 0.5


async def test_retries_are_off_by_default_and_fallback_happens_at_once(no_sleep: list) -> None:
    a = FakeBackend("a", BackendSettings(model="m", priority=1), failures=[down()])
    b = FakeBackend("b", BackendSettings(model="m", priority=2))
    router = make_router(a, b)
    response = await router.route_request(req())
    assert response.backend_used == "b"
    assert (a.calls, b.calls) == (1, 1)
    assert no_sleep == []


async def test_retry_on_the_same_backend_before_fallback(no_sleep: list) -> None:
    a = FakeBackend("a", BackendSettings(model="m", priority=1, max_retries=2), failures=[down(), down()])
    b = FakeBackend("b", BackendSettings(model="m", priority=2))
    router = make_router(a, b)
    response = await router.route_request(req())
    assert response.backend_used == "a"
    assert (a.calls, b.calls) == (3, 0)
    assert router.counters.retries == 2
    assert a.stats.failures == 2  # every failure was recorded
    assert [n for n, _ in no_sleep] == [0, 1]


async def test_falls_back_when_retries_are_used_up(no_sleep: list) -> None:
    a = FakeBackend(
        "a", BackendSettings(model="m", priority=1, max_retries=1), failures=[down(), down(), down()]
    )
    b = FakeBackend("b", BackendSettings(model="m", priority=2))
    router = make_router(a, b)
    response = await router.route_request(req())
    assert response.backend_used == "b"
    assert a.calls == 2
    assert response.metadata["failed_backends"] == ["a"]


async def test_non_retryable_errors_are_not_retried(no_sleep: list) -> None:
    a = FakeBackend(
        "a", BackendSettings(model="m", max_retries=3), failures=[InvalidRequestError("bad", "a")]
    )
    router = make_router(a)
    with pytest.raises(InvalidRequestError):
        await router.route_request(req())
    assert a.calls == 1


async def test_retry_after_is_passed_to_the_backoff(no_sleep: list) -> None:
    error = RateLimitError("429", "a", status_code=429, retry_after=0.01)
    a = FakeBackend("a", BackendSettings(model="m", max_retries=1), failures=[error])
    router = make_router(a)
    response = await router.route_request(req())
    assert response.backend_used == "a"
    assert no_sleep == [(0, 0.01)]


async def test_retry_waits_out_the_retry_after_for_real() -> None:
    error = RateLimitError("429", "a", status_code=429, retry_after=0.05)
    a = FakeBackend("a", BackendSettings(model="m", max_retries=1), failures=[error])
    router = make_router(a)
    response = await router.route_request(req())
    assert response.backend_used == "a"
    assert a.calls == 2


class TwoStrikes:
    @hookimpl
    def claudette_breaker_policy(self, backend: object) -> BreakerPolicy:
        return BreakerPolicy(failure_threshold=2)


async def test_retries_stop_when_the_breaker_opens(no_sleep: list) -> None:
    a = FakeBackend(
        "a", BackendSettings(model="m", priority=1, max_retries=5), failures=[down()] * 5
    )
    b = FakeBackend("b", BackendSettings(model="m", priority=2))
    router = make_router(a, b, plugins=[TwoStrikes()])
    response = await router.route_request(req())
    assert response.backend_used == "b"
    assert a.calls == 2
    assert router.breaker_status()["a"] == "open"


async def test_total_backoff_is_bounded_per_request() -> None:
    # the first backoff (~0.4-0.5 s) exceeds max_retry_wait: fall back instead of sleeping
    a = FakeBackend("a", BackendSettings(model="m", priority=1, max_retries=3), failures=[down()])
    b = FakeBackend("b", BackendSettings(model="m", priority=2))
    router = make_router(a, b, max_retry_wait=0.1)
    response = await router.route_request(req())
    assert response.backend_used == "b"
    assert a.calls == 1
    assert router.counters.retries == 0


class Patient:
    @hookimpl
    def claudette_breaker_policy(self, backend: object) -> BreakerPolicy:
        return BreakerPolicy(failure_threshold=50)


async def test_many_concurrent_requests_each_retry_independently(no_sleep: list) -> None:
    a = FakeBackend(
        "a", BackendSettings(model="m", max_retries=2), delay=0.005, failures=[down()] * 10
    )
    router = make_router(a, plugins=[Patient()])
    results = await gather(lambda i: router.route_request(req(f"q{i}")), 10)
    assert all(r.backend_used == "a" for r in results)
    assert a.calls == 20
    assert router.counters.retries == 10


def test_max_retries_from_config() -> None:
    config = parse_config({"backends": {"x": {"plugin": "p", "max_retries": 2}}, "router": {"max_retry_wait": 5}})
    assert config.backends[0].settings.max_retries == 2
    assert config.router.max_retry_wait == 5.0


class OneStrike:
    @hookimpl
    def claudette_breaker_policy(self, backend: object) -> BreakerPolicy:
        return BreakerPolicy(failure_threshold=1)


def cheap_then_dear(cheap_settings: BackendSettings) -> tuple[FakeBackend, FakeBackend]:
    """A cheap backend whose first call answers 500, and a dearer one that answers."""
    from claudette.http import error_from_status

    cheap = FakeBackend("cheap", cheap_settings, failures=[error_from_status("cheap", 500, "boom")])
    dear = FakeBackend("dear", BackendSettings(model="m", cost_per_token=0.001))
    return cheap, dear


async def test_out_of_rate_limit_falls_back_at_once_without_sleeping_the_backoff() -> None:
    # The docs' example: rpm=1 is spent by the failed call, so no retry can be made.
    cheap, dear = cheap_then_dear(BackendSettings(model="m", max_retries=2, rpm=1))
    router = make_router(cheap, dear)  # the default backoff (~0.5 s) and max_retry_wait
    started = time.monotonic()
    response = await router.route_request(req())
    elapsed = time.monotonic() - started
    assert response.backend_used == "dear"
    assert (cheap.calls, dear.calls) == (1, 1)
    assert router.counters.retries == 0
    assert elapsed < 0.2  # the first backoff is at least 0.375 s


async def test_a_breaker_that_opened_falls_back_at_once_without_sleeping_the_backoff() -> None:
    cheap, dear = cheap_then_dear(BackendSettings(model="m", max_retries=2))
    router = make_router(cheap, dear, plugins=[OneStrike()])
    started = time.monotonic()
    response = await router.route_request(req())
    elapsed = time.monotonic() - started
    assert response.backend_used == "dear"
    assert router.breaker_status()["cheap"] == "open"
    assert cheap.calls == 1
    assert elapsed < 0.2


async def test_a_retry_that_can_be_made_still_sleeps_its_backoff() -> None:
    cheap, dear = cheap_then_dear(BackendSettings(model="m", max_retries=2, rpm=5))
    router = make_router(cheap, dear)
    started = time.monotonic()
    response = await router.route_request(req())
    elapsed = time.monotonic() - started
    assert response.backend_used == "cheap"
    assert cheap.calls == 2
    assert router.counters.retries == 1
    assert elapsed >= 0.375  # the first backoff: 0.5 s times a jitter factor of 0.75 .. 1


async def test_at_the_default_breaker_policy_an_opening_breaker_falls_back_at_once() -> None:
    # Bring the default breaker one failure short of opening; the request's failed call
    # opens it, so the retry cannot be made and the router falls back without sleeping.
    cheap, dear = cheap_then_dear(BackendSettings(model="m", max_retries=2))
    router = make_router(cheap, dear)
    breaker = router.breaker("cheap")
    for _ in range(BreakerPolicy().failure_threshold - 1):
        breaker.record_failure()
    assert router.breaker_status()["cheap"] == "closed"
    started = time.monotonic()
    response = await router.route_request(req())
    elapsed = time.monotonic() - started
    assert response.backend_used == "dear"
    assert router.breaker_status()["cheap"] == "open"
    assert (cheap.calls, router.counters.retries) == (1, 0)
    assert elapsed < 0.2  # the first backoff is at least 0.375 s
