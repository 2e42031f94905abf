"""The strict breaker policy: cloud backends trip after 2 failures, self-hosted ones keep the default."""

from __future__ import annotations

import claudette_breaker_strict as strict
import pytest
from claudette import (
    BackendSettings,
    BackendUnavailableError,
    BaseBackend,
    BreakerPolicy,
    CircuitBreakerState,
    ClaudettePlugins,
    ClaudetteRequest,
)
from claudette.testing.pytest_plugin import build_router


class Failing(BaseBackend):
    """A backend whose provider is always down."""

    async def send(self, request):  # type: ignore[no-untyped-def]
        raise BackendUnavailableError("provider down", self.name, True, 503)


def backend(name: str, backend_type: str | None) -> BaseBackend:
    return Failing(name, BackendSettings(model="m", backend_type=backend_type))  # type: ignore[arg-type]


def test_cloud_backends_get_the_strict_policy() -> None:
    manager = ClaudettePlugins(autoload=False, plugins=[strict])

    assert manager.breaker_policy(backend("c", "cloud")) == strict.STRICT_POLICY
    assert manager.breaker_policy(backend("untyped", None)) == strict.STRICT_POLICY


def test_self_hosted_backends_keep_the_default_policy() -> None:
    manager = ClaudettePlugins(autoload=False, plugins=[strict])

    assert manager.breaker_policy(backend("s", "self_hosted")) == BreakerPolicy()


async def test_router_opens_a_cloud_breaker_after_two_failures() -> None:
    async with build_router(backend("cloud", "cloud"), backend("local", "self_hosted"), plugins=[strict]) as router:
        for _ in range(2):
            with pytest.raises(BackendUnavailableError):
                await router.route_request(ClaudetteRequest(prompt="hi", backend="cloud"))

        assert router.breaker("cloud").state is CircuitBreakerState.OPEN
        assert router.breaker("local").policy == BreakerPolicy()


def test_it_runs_before_the_built_in_default() -> None:
    manager = ClaudettePlugins(autoload=False, plugins=[strict])

    assert manager.hook_order("claudette_breaker_policy")[-1] == "claudette-internal-breaker-policy"
    assert len(manager.hook_order("claudette_breaker_policy")) == 2


async def test_without_the_plugin_two_failures_leave_the_breaker_closed() -> None:
    async with build_router(backend("cloud", "cloud")) as router:
        for _ in range(2):
            with pytest.raises(BackendUnavailableError):
                await router.route_request(ClaudetteRequest(prompt="hi", backend="cloud"))

        assert router.breaker("cloud").state is CircuitBreakerState.CLOSED
