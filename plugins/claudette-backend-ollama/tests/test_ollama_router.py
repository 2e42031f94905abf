"""Two OllamaBackends on two emulators behind one BackendRouter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from claudette import (
    BackendRouter,
    BackendSettings,
    ClaudettePlugins,
    ClaudetteRequest,
    RouterOptions,
)

import claudette_backend_ollama.plugin
from claudette_backend_ollama.testing import OllamaEmulator, OllamaFault


@pytest.fixture
def second() -> Iterator[OllamaEmulator]:
    """A second Ollama server, answering differently."""
    with OllamaEmulator(reply="Hi from B", prompt_tokens=7) as emu:
        yield emu


@pytest.fixture
async def router(emulator: OllamaEmulator, second: OllamaEmulator) -> AsyncIterator[BackendRouter]:
    """A router with ``ollama-a`` (priority 1, on ``emulator``) and ``ollama-b`` (on ``second``)."""
    plugins = ClaudettePlugins(autoload=False, plugins=[claudette_backend_ollama.plugin])
    async with BackendRouter(RouterOptions(health_checks=False), plugins=plugins) as router:
        for name, emu, priority in (("ollama-a", emulator, 1), ("ollama-b", second, 2)):
            settings = BackendSettings(base_url=emu.url, priority=priority)
            router.register_backend(plugins.registry.create("ollama", settings, instance_name=name))
        yield router


async def test_routes_to_the_preferred_backend(
    router: BackendRouter, emulator: OllamaEmulator, second: OllamaEmulator
) -> None:
    response = await router.route_request(ClaudetteRequest(prompt="hi"))
    assert (response.backend_used, response.content, response.cost_eur) == (
        "ollama-a",
        "Hello there",
        0.0,
    )
    assert (emulator.chat_count, second.chat_count) == (1, 0)


async def test_forced_backend_is_used(router: BackendRouter, second: OllamaEmulator) -> None:
    response = await router.route_request(ClaudetteRequest(prompt="hi", backend="ollama-b"))
    assert (response.backend_used, response.content, response.tokens_input) == (
        "ollama-b",
        "Hi from B",
        7,
    )


async def test_streams_through_the_router(router: BackendRouter) -> None:
    chunks = [c async for c in router.stream(ClaudetteRequest(prompt="hi"))]
    assert [c.text for c in chunks] == ["Hello", " there", ""]
    assert chunks[-1].response is not None
    assert chunks[-1].response.backend_used == "ollama-a"


async def test_falls_back_when_one_returns_500s(
    router: BackendRouter, emulator: OllamaEmulator, second: OllamaEmulator
) -> None:
    emulator.fail_always(OllamaFault.status_error(500))
    responses = [await router.route_request(ClaudetteRequest(prompt="hi")) for _ in range(3)]
    assert {r.backend_used for r in responses} == {"ollama-b"}
    assert responses[0].metadata["failed_backends"] == ["ollama-a"]
    assert second.chat_count == 3
    assert router.counters.fallbacks >= 1


async def test_stream_falls_back_before_the_first_chunk(
    router: BackendRouter, emulator: OllamaEmulator
) -> None:
    emulator.script(OllamaFault.status_error(502))
    chunks = [c async for c in router.stream(ClaudetteRequest(prompt="hi"))]
    assert "".join(c.text for c in chunks) == "Hi from B"
    assert chunks[-1].response is not None
    assert chunks[-1].response.backend_used == "ollama-b"


async def test_unknown_model_fails_without_fallback(
    router: BackendRouter, second: OllamaEmulator
) -> None:
    from claudette import InvalidRequestError

    with pytest.raises(InvalidRequestError):
        await router.route_request(ClaudetteRequest(prompt="hi", options={"model": "nope:1b"}))
    assert second.chat_count == 0


async def test_usage_reconciles_with_what_the_servers_reported(
    router: BackendRouter, emulator: OllamaEmulator, second: OllamaEmulator
) -> None:
    emulator.script(OllamaFault.status_error(500))
    responses = [await router.route_request(ClaudetteRequest(prompt="hi")) for _ in range(4)]
    failed_attempts = sum(len(r.metadata.get("failed_backends", ())) for r in responses)
    reported = [emulator.reported_usage(), second.reported_usage()]
    assert sum(r.tokens_input for r in responses) == reported[0][0] + reported[1][0]
    assert sum(r.tokens_output for r in responses) == reported[0][1] + reported[1][1]
    assert len(emulator.completed) + len(second.completed) == 4
    assert emulator.chat_count + second.chat_count == 4 + failed_attempts


async def test_concurrent_requests_are_all_answered_and_counted(
    router: BackendRouter, emulator: OllamaEmulator, second: OllamaEmulator
) -> None:
    import asyncio

    responses = await asyncio.gather(
        *(router.route_request(ClaudetteRequest(prompt=f"q{i}")) for i in range(40))
    )
    assert len(responses) == 40
    assert emulator.chat_count + second.chat_count == 40
    assert sum(r.tokens_output for r in responses) == (
        emulator.reported_usage()[1] + second.reported_usage()[1]
    )
