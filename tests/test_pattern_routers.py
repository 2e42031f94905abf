"""The routers named for one pattern are BackendRouter subclasses that only set its option."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import claudette
import pytest
from claudette import BackendRouter, ClaudettePlugins, RouterOptions
from claudette.types import AdaptiveOptions, CacheOptions
from test_patterns_support import FakeBackend, req

# Each router's name, how to build it with its pattern's argument, and the option that
# argument must set.
CASES = [
    pytest.param(
        "LoadBalancingRouter",
        lambda **kw: claudette.LoadBalancingRouter(**kw),
        lambda o: o.strategy,
        "least_requests",
        id="LoadBalancingRouter",
    ),
    pytest.param(
        "MultiRegionRouter",
        lambda **kw: claudette.MultiRegionRouter("eu-west", **kw),
        lambda o: o.region,
        "eu-west",
        id="MultiRegionRouter",
    ),
    pytest.param(
        "AdaptiveRouter",
        lambda **kw: claudette.AdaptiveRouter(interval=60, **kw),
        lambda o: o.adaptive,
        AdaptiveOptions(interval=60.0),
        id="AdaptiveRouter",
    ),
    pytest.param(
        "IntelligentBackendCache",
        lambda **kw: claudette.IntelligentBackendCache(ttl=60, **kw),
        lambda o: o.cache,
        CacheOptions(ttl=60.0),
        id="IntelligentBackendCache",
    ),
]

Build = Callable[..., BackendRouter]
Pattern = Callable[[RouterOptions], Any]


@pytest.mark.parametrize(("name", "build", "pattern", "expected"), CASES)
async def test_each_is_a_backend_router_of_its_own_class(
    name: str, build: Build, pattern: Pattern, expected: Any
) -> None:
    router = build(plugins=ClaudettePlugins(autoload=False))
    try:
        assert isinstance(router, getattr(claudette, name))
        assert isinstance(router, BackendRouter)
        assert pattern(router.options) == expected
    finally:
        await router.aclose()


@pytest.mark.parametrize(("name", "build", "pattern", "expected"), CASES)
async def test_each_keeps_the_other_options_and_routes_like_a_backend_router(
    name: str, build: Build, pattern: Pattern, expected: Any
) -> None:
    options = RouterOptions(max_attempts=5, health_checks=False)
    router = build(options=options, plugins=ClaudettePlugins(autoload=False))
    try:
        assert (router.options.max_attempts, router.options.health_checks) == (5, False)
        assert pattern(router.options) == expected
        router.register_backend(FakeBackend("a", region="eu-west"))
        response = await router.route_request(req("hi"))
        assert (response.backend_used, response.content) == ("a", "a: hi")
    finally:
        await router.aclose()


def test_they_live_in_the_module_named_for_them() -> None:
    names = ("AdaptiveRouter", "IntelligentBackendCache", "LoadBalancingRouter", "MultiRegionRouter")
    assert {getattr(claudette, n).__module__ for n in names} == {"claudette.pattern_routers"}
    assert all(isinstance(getattr(claudette, n), type) for n in names)
