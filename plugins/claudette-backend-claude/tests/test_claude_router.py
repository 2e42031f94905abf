"""ClaudeBackend inside a BackendRouter: routing, streaming and falling back on 529."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from claude_support import API_KEY
from claudette import (
    BackendRouter,
    BackendSettings,
    ClaudettePlugins,
    ClaudetteRequest,
    RouterOptions,
    StreamInterruptedError,
)

import claudette_backend_claude.plugin
from claudette_backend_claude.testing import AnthropicEmulator, AnthropicFault


@pytest.fixture
def second() -> Iterator[AnthropicEmulator]:
    """Another emulator, answering differently."""
    with AnthropicEmulator(api_key=API_KEY, reply="Second here", request_id_prefix="req_two_") as api:
        yield api


def _router(*apis: AnthropicEmulator) -> BackendRouter:
    """A router with one claude backend per emulator: ``primary`` (priority 1), ``backup``."""
    pm = ClaudettePlugins(autoload=False, plugins=[claudette_backend_claude.plugin])
    router = BackendRouter(RouterOptions(health_checks=False), plugins=pm)
    for name, priority, api in zip(("primary", "backup"), (1, 2), apis, strict=False):
        settings = BackendSettings(api_key=API_KEY, base_url=api.url, priority=priority, timeout=5.0)
        router.register_backend(pm.registry.create("claude", settings, instance_name=name))
    return router


async def test_router_routes_through_claude(emulator: AnthropicEmulator) -> None:
    async with _router(emulator) as router:
        response = await router.route_request(ClaudetteRequest(prompt="hi"))
        spent = router.counters.cost_eur
    assert response.backend_used == "primary"
    assert response.content == "Hello there"
    assert emulator.message_requests == 1
    assert spent == pytest.approx(response.cost_eur)


async def test_router_streams_through_claude(emulator: AnthropicEmulator) -> None:
    async with _router(emulator) as router:
        chunks = [c async for c in router.stream(ClaudetteRequest(prompt="hi"))]
    assert [c.text for c in chunks] == ["Hello", " there", ""]
    assert chunks[-1].response is not None
    assert chunks[-1].response.backend_used == "primary"


async def test_router_falls_back_on_529(emulator: AnthropicEmulator, second: AnthropicEmulator) -> None:
    emulator.fail_next(AnthropicFault.overloaded())
    async with _router(emulator, second) as router:
        response = await router.route_request(ClaudetteRequest(prompt="hi"))
        fallbacks = router.counters.fallbacks
    assert response.backend_used == "backup"
    assert response.content == "Second here"
    assert response.metadata["failed_backends"] == ["primary"]
    assert fallbacks == 1
    assert (emulator.message_requests, second.message_requests) == (1, 1)


async def test_router_stream_falls_back_on_529(emulator: AnthropicEmulator, second: AnthropicEmulator) -> None:
    emulator.fail_next(AnthropicFault.overloaded())
    async with _router(emulator, second) as router:
        chunks = [c async for c in router.stream(ClaudetteRequest(prompt="hi"))]
    assert "".join(c.text for c in chunks) == "Second here"
    assert chunks[-1].response is not None
    assert chunks[-1].response.backend_used == "backup"


async def test_router_stream_falls_back_on_error_event_before_text(
    emulator: AnthropicEmulator, second: AnthropicEmulator
) -> None:
    emulator.fail_next(AnthropicFault.stream_error("overloaded_error", after_events=1))
    async with _router(emulator, second) as router:
        chunks = [c async for c in router.stream(ClaudetteRequest(prompt="hi"))]
    assert chunks[-1].response is not None
    assert chunks[-1].response.backend_used == "backup"


async def test_error_event_after_text_interrupts_with_partial_text(
    emulator: AnthropicEmulator, second: AnthropicEmulator
) -> None:
    emulator.fail_next(AnthropicFault.stream_error(after_events=4))  # start, block, ping, "Hello"
    async with _router(emulator, second) as router:
        with pytest.raises(StreamInterruptedError) as info:
            _ = [c async for c in router.stream(ClaudetteRequest(prompt="hi"))]
    assert info.value.partial_text == "Hello"
    assert info.value.error_type == "overloaded_error"
    assert second.message_requests == 0


async def test_rate_limited_backend_is_cooled_down(emulator: AnthropicEmulator, second: AnthropicEmulator) -> None:
    emulator.fail_next(AnthropicFault.rate_limit(retry_after=30))
    async with _router(emulator, second) as router:
        first = await router.route_request(ClaudetteRequest(prompt="one"))
        again = await router.route_request(ClaudetteRequest(prompt="two"))
    assert (first.backend_used, again.backend_used) == ("backup", "backup")
    assert emulator.message_requests == 1


async def test_router_usage_reconciles_with_the_emulator(emulator: AnthropicEmulator) -> None:
    async with _router(emulator) as router:
        for prompt in ("a" * 40, "b" * 80):
            await router.route_request(ClaudetteRequest(prompt=prompt))
        _ = [c async for c in router.stream(ClaudetteRequest(prompt="c" * 8))]
        counted = (router.counters.tokens_input, router.counters.tokens_output)
    assert counted == emulator.usage_reported
    assert emulator.completed_messages == 3


async def test_router_health_check_uses_the_free_endpoint(emulator: AnthropicEmulator) -> None:
    emulator.healthy = False
    async with _router(emulator) as router:
        health = await router.check_health()
    assert health == {"primary": False}
    assert [c.path for c in emulator.calls] == [f"/v1/models/{emulator.models[0]}"]
