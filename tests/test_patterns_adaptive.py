"""Adaptive weights: pressure raises a weight, bounds hold, never on the request path."""

from __future__ import annotations

import asyncio

import claudette
import pytest
from claudette import BackendSettings, BackendUnavailableError, RouterOptions
from claudette.adaptive import AdaptiveWeights, Observation
from claudette.config import parse_config
from claudette.types import AdaptiveOptions
from test_patterns_support import FakeBackend, gather, make_router, req


def seen(latency: float = 0.0, cost: float = 0.0, failure_rate: float = 0.0) -> Observation:
    return Observation(10, int(failure_rate * 10), 10, latency, cost, failure_rate)


def weights(**kw: object) -> AdaptiveWeights:
    return AdaptiveWeights(AdaptiveOptions(**kw), RouterOptions())  # type: ignore[arg-type]


def test_high_latency_raises_the_latency_weight() -> None:
    c, lat, a = weights().next_weights((0.4, 0.4, 0.2), seen(latency=8000))
    assert lat > 0.4
    assert c < 0.4
    assert c + lat + a == pytest.approx(1.0, abs=1e-3)


def test_high_cost_raises_the_cost_weight() -> None:
    c, lat, _ = weights().next_weights((0.4, 0.4, 0.2), seen(cost=0.05))
    assert c > 0.4 > lat


def test_high_failure_rate_raises_the_availability_weight() -> None:
    _, _, a = weights().next_weights((0.4, 0.4, 0.2), seen(failure_rate=0.5))
    assert a > 0.2


def test_weights_stay_within_bounds_under_lasting_pressure() -> None:
    w = weights(min_weight=0.1, max_weight=0.6)
    current = (0.4, 0.4, 0.2)
    for _ in range(20):
        current = w.next_weights(current, seen(latency=9000))
    assert current[1] == pytest.approx(0.6, abs=1e-3)
    assert min(current) >= 0.1 - 1e-3
    assert sum(current) == pytest.approx(1.0, abs=1e-3)


def test_an_interval_without_calls_changes_nothing() -> None:
    idle = Observation(0, 0, 0, 0.0, 0.0, 0.0)
    assert weights().next_weights((0.2, 0.6, 0.2), idle) == (0.2, 0.6, 0.2)


def test_without_pressure_weights_relax_to_the_configured_ones() -> None:
    w = weights()
    current = (0.2, 0.6, 0.2)
    for _ in range(10):
        current = w.next_weights(current, seen())
    assert current == pytest.approx((0.4, 0.4, 0.2), abs=1e-3)


async def test_adapt_weights_uses_what_the_router_observed_and_shows_it_in_stats() -> None:
    slow = FakeBackend("slow")
    router = make_router(slow, adaptive=AdaptiveOptions(interval=3600))
    for _ in range(5):
        slow.stats.record_success(9000.0)
    cost, latency, _ = router.adapt_weights()
    assert latency > 0.4
    assert (router.options.latency_weight, router.options.cost_weight) == (latency, cost)
    shown = router.stats()["patterns"]["adaptive"]
    assert shown["weights"]["latency"] == latency
    assert shown["adaptations"] == 1
    assert shown["last_observation"]["mean_latency_ms"] == pytest.approx(9000.0)
    await router.aclose()


async def test_failures_since_the_last_adaptation_raise_availability() -> None:
    flaky = FakeBackend("flaky", failures=[BackendUnavailableError("down", "flaky")] * 3)
    router = make_router(flaky, FakeBackend("ok"), adaptive=AdaptiveOptions(interval=3600))
    await gather(lambda i: router.route_request(req(f"q{i}")), 6)
    _, _, availability = router.adapt_weights()
    assert availability > 0.2
    await router.aclose()


async def test_adapt_weights_works_without_configuration() -> None:
    slow = FakeBackend("slow")
    router = make_router(slow)
    slow.stats.record_success(9000.0)
    assert router.adapt_weights()[1] > 0.4


async def test_requests_never_change_the_weights() -> None:
    slow = FakeBackend("slow")
    router = make_router(slow, adaptive=AdaptiveOptions(interval=3600))
    for _ in range(5):
        slow.stats.record_success(9000.0)
    await gather(lambda i: router.route_request(req(f"q{i}")), 10)
    assert router.options.latency_weight == 0.4
    await router.aclose()


async def test_background_task_adapts_every_interval_and_stops_on_close() -> None:
    slow = FakeBackend("slow")
    router = make_router(slow, adaptive=AdaptiveOptions(interval=0.02))
    for _ in range(5):
        slow.stats.record_success(9000.0)
    await router.route_request(req())  # starts the background task
    await asyncio.sleep(0.15)
    adaptations = router.stats()["patterns"]["adaptive"]["adaptations"]
    assert adaptations >= 2
    assert router.options.latency_weight > 0.4
    await router.aclose()
    await asyncio.sleep(0.05)
    assert router.stats()["patterns"]["adaptive"]["adaptations"] == adaptations


def test_adaptive_from_config() -> None:
    config = parse_config({"router": {"adaptive": {"interval": 120, "max_weight": 0.6}}})
    assert config.router.adaptive == AdaptiveOptions(interval=120.0, max_weight=0.6)


def test_bounds_must_make_sense() -> None:
    with pytest.raises(ValueError):
        AdaptiveOptions(min_weight=0.8, max_weight=0.5)


async def test_adaptive_router_convenience() -> None:
    router = claudette.AdaptiveRouter(interval=60, plugins=claudette.ClaudettePlugins(autoload=False))
    assert router.options.adaptive == AdaptiveOptions(interval=60.0)
    await router.aclose()


def test_intelligent_backend_cache_convenience() -> None:
    router = claudette.IntelligentBackendCache(
        max_entries=10, ttl=60, plugins=claudette.ClaudettePlugins(autoload=False)
    )
    assert router.options.cache is not None
    assert (router.options.cache.max_entries, router.options.cache.ttl) == (10, 60.0)


def test_importing_claudette_does_not_load_the_pattern_modules() -> None:
    import subprocess
    import sys

    code = (
        "import sys, claudette; "
        "mods = ['claudette.pattern_routers', 'claudette.cache', 'claudette.adaptive', 'claudette.budget', "
        "'claudette.ratelimit', 'claudette.retry', 'claudette.balancing', 'claudette.batching']; "
        "print([m for m in mods if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_weight_settings_are_validated() -> None:
    with pytest.raises(ValueError):
        BackendSettings(weight=0)


def test_the_weight_under_pressure_rises_by_exactly_step() -> None:
    # The docs: each weight under pressure rises by step and the others give way.
    c, lat, a = weights(step=0.1).next_weights((0.4, 0.4, 0.2), seen(latency=8000))
    assert lat == pytest.approx(0.5, abs=1e-4)
    assert (c, a) == pytest.approx((0.4 - 0.1 * 2 / 3, 0.2 - 0.1 / 3), abs=1e-4)
    assert c + lat + a == pytest.approx(1.0, abs=1e-4)


def test_two_weights_under_pressure_each_rise_by_step() -> None:
    c, lat, a = weights(step=0.1).next_weights((0.3, 0.3, 0.4), seen(latency=8000, cost=0.05))
    assert (c, lat, a) == pytest.approx((0.4, 0.4, 0.2), abs=1e-4)


def test_a_rise_stops_at_max_weight_and_a_weight_giving_way_at_min_weight() -> None:
    w = weights(step=0.1, min_weight=0.05, max_weight=0.7)
    assert w.next_weights((0.15, 0.65, 0.2), seen(latency=8000)) == pytest.approx(
        (0.15 - 0.05 * 0.15 / 0.35, 0.7, 0.2 - 0.05 * 0.2 / 0.35), abs=1e-4
    )
    # availability can give only 0.01 before min_weight; cost gives the rest
    assert w.next_weights((0.34, 0.6, 0.06), seen(latency=8000)) == pytest.approx(
        (0.25, 0.7, 0.05), abs=1e-4
    )


def test_all_three_under_pressure_leave_the_weights_as_they_are() -> None:
    pressed = seen(latency=8000, cost=0.05, failure_rate=0.5)
    assert weights().next_weights((0.4, 0.4, 0.2), pressed) == (0.4, 0.4, 0.2)
