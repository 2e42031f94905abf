"""Load balancing (least requests, weighted random) and multi-region routing."""

from __future__ import annotations

import random
from collections import Counter

import claudette
import pytest
from claudette import BackendRouter, BackendSettings, BackendUnavailableError, RouterOptions
from claudette.balancing import least_requests_score, weighted_random_score
from claudette.config import parse_config
from claudette.router.selection import SLOW_START_IN_FLIGHT
from claudette.state import BackendStats
from claudette.types import BreakerPolicy
from test_patterns_support import FakeBackend, gather, make_router, req


def trio(**kw: object) -> list[FakeBackend]:
    return [FakeBackend(n, delay=0.02, **kw) for n in ("a", "b", "c")]  # type: ignore[arg-type]


# -- least requests ---------------------------------------------------------------------------


async def test_least_requests_spreads_concurrent_requests_evenly() -> None:
    backends = trio()
    router = make_router(*backends, strategy="least_requests")
    await gather(lambda i: router.route_request(req(f"q{i}")), 30)
    assert [b.calls for b in backends] == [10, 10, 10]
    assert max(b.max_active for b in backends) == 10


async def test_score_strategy_sends_everything_to_the_best() -> None:
    backends = trio()
    router = make_router(*backends)  # equal scores: the tie-break (name) decides
    for b in backends:  # each has answered once, as fast as the others: past slow start
        b.stats.record_success(20.0)
    await gather(lambda i: router.route_request(req(f"q{i}")), 9)
    assert [b.calls for b in backends] == [9, 0, 0]


async def test_slow_start_spreads_a_cold_burst_until_the_best_has_answered() -> None:
    backends = trio()
    router = make_router(*backends)
    await gather(lambda i: router.route_request(req(f"q{i}")), 9)
    # Each cold backend takes SLOW_START_IN_FLIGHT at once; with every one of them at
    # that mark the rest is spread by requests in flight (slow start never refuses one).
    assert SLOW_START_IN_FLIGHT == 2
    assert [b.calls for b in backends] == [3, 3, 3]


async def test_least_requests_prefers_fewer_in_total_when_none_in_flight() -> None:
    a, b = FakeBackend("a"), FakeBackend("b")
    router = make_router(a, b, strategy="least_requests")
    for _ in range(3):
        a.stats.record_success(1.0)
    assert (await router.select_backend(req())).name == "b"


def test_in_flight_outweighs_totals() -> None:
    busy, idle = BackendStats(), BackendStats()
    busy.in_flight = 1
    for _ in range(1000):
        idle.record_success(1.0)
    options = RouterOptions()
    b = FakeBackend("x")
    assert least_requests_score(b, req(), busy, options) > least_requests_score(b, req(), idle, options)


# -- weighted random ----------------------------------------------------------------------------


async def test_weighted_random_follows_the_weights() -> None:
    random.seed(7)
    heavy = FakeBackend("heavy", BackendSettings(model="m", weight=3.0))
    light = FakeBackend("light", BackendSettings(model="m", weight=1.0))
    router = make_router(heavy, light, strategy="weighted_random")
    picks = Counter([(await router.select_backend(req())).name for _ in range(4000)])
    assert picks["heavy"] / 4000 == pytest.approx(0.75, abs=0.03)


async def test_weighted_random_spreads_concurrent_requests() -> None:
    random.seed(11)
    backends = [FakeBackend(n, delay=0.005) for n in ("a", "b")]
    router = make_router(*backends, strategy="weighted_random")
    await gather(lambda i: router.route_request(req(f"q{i}")), 200)
    assert all(70 <= b.calls <= 130 for b in backends)


def test_weighted_random_score_is_an_exponential_key() -> None:
    b = FakeBackend("x", BackendSettings(model="m", weight=2.0))
    score = weighted_random_score(b, req(), BackendStats(), RouterOptions(), _random=lambda: 0.5)
    assert score == pytest.approx(0.6931471805599453 / 2)


async def test_weighted_random_never_picks_an_unusable_backend() -> None:
    a = FakeBackend("a", BackendSettings(model="m", weight=100.0, enabled=False))
    b = FakeBackend("b")
    router = make_router(a, b, strategy="weighted_random")
    assert {(await router.select_backend(req())).name for _ in range(50)} == {"b"}


async def test_weighted_random_still_falls_back() -> None:
    a = FakeBackend("a", failures=[BackendUnavailableError("down", "a")] * 100)
    b = FakeBackend("b")
    router = make_router(a, b, strategy="weighted_random")
    results = await gather(lambda i: router.route_request(req(f"q{i}")), 20)
    assert all(r.backend_used == "b" for r in results)


def test_strategy_and_weight_from_config() -> None:
    config = parse_config(
        {"router": {"strategy": "weighted_random"}, "backends": {"x": {"plugin": "p", "weight": 2.5}}}
    )
    assert config.router.strategy == "weighted_random"
    assert config.backends[0].settings.weight == 2.5


def test_unknown_strategy_is_rejected() -> None:
    with pytest.raises(ValueError):
        RouterOptions(strategy="round_robin")  # type: ignore[arg-type]


def test_load_balancing_router_convenience() -> None:
    router = claudette.LoadBalancingRouter(plugins=claudette.ClaudettePlugins(autoload=False))
    assert isinstance(router, BackendRouter)
    assert router.options.strategy == "least_requests"


# -- multi-region -------------------------------------------------------------------------------


def regional() -> tuple[FakeBackend, FakeBackend, FakeBackend]:
    # "us" scores best (cheapest); the eu ones cost more.
    us = FakeBackend("us", BackendSettings(model="m", region="us-east"))
    eu1 = FakeBackend("eu1", BackendSettings(model="m", region="eu-west", cost_per_token=1e-5))
    eu2 = FakeBackend("eu2", BackendSettings(model="m", region="eu-west", cost_per_token=2e-5))
    return us, eu1, eu2


async def test_preferred_region_is_scored_first() -> None:
    router = make_router(*regional())
    assert (await router.select_backend(req(region="eu-west"))).name == "eu1"
    assert (await router.select_backend(req())).name == "us"


async def test_global_fallback_when_the_region_has_no_usable_backend() -> None:
    us, eu1, eu2 = regional()
    router = make_router(us, eu1, eu2)
    for _ in range(BreakerPolicy().failure_threshold):
        router.breaker("eu2").record_failure()
        router.breaker("eu1").record_failure()
    assert (await router.select_backend(req(region="eu-west"))).name == "us"


async def test_unknown_region_uses_global_selection() -> None:
    router = make_router(*regional())
    assert (await router.select_backend(req(region="ap-south"))).name == "us"


async def test_router_default_region_and_request_override() -> None:
    router = make_router(*regional(), region="eu-west")
    assert (await router.select_backend(req())).name == "eu1"
    assert (await router.select_backend(req(region="us-east"))).name == "us"


async def test_failure_in_region_falls_back_within_region_then_globally() -> None:
    us, eu1, eu2 = regional()
    eu1.failures = [BackendUnavailableError("down", "eu1")]
    eu2.failures = [BackendUnavailableError("down", "eu2")]
    router = make_router(us, eu1, eu2)
    response = await router.route_request(req(region="eu-west"))
    assert response.backend_used == "us"
    assert response.metadata["failed_backends"] == ["eu1", "eu2"]


async def test_concurrent_regional_requests_stay_in_region() -> None:
    us, eu1, eu2 = regional()
    router = make_router(us, eu1, eu2, strategy="least_requests")
    for b in (us, eu1, eu2):
        b.delay = 0.01
    results = await gather(lambda i: router.route_request(req(f"q{i}", region="eu-west")), 20)
    assert Counter(r.backend_used for r in results) == {"eu1": 10, "eu2": 10}
    assert us.calls == 0


def test_region_from_config() -> None:
    config = parse_config({"router": {"region": "eu-west"}, "backends": {"x": {"plugin": "p", "region": "eu-west"}}})
    assert config.router.region == "eu-west"
    assert config.backends[0].settings.region == "eu-west"


def test_multi_region_router_convenience() -> None:
    router = claudette.MultiRegionRouter("eu-west", plugins=claudette.ClaudettePlugins(autoload=False))
    assert router.options.region == "eu-west"
