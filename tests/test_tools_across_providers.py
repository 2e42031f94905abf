"""One tool conversation, structured output and images across the four provider plugins.

Every provider runs behind its own emulator (its real wire format, answered by the shared
scripted model), all in one router: a conversation whose first turn one provider answers
and whose second turn another does must work for every pair, sent and streamed, because
each plugin translates claudette's one shape (ids included) into its provider's.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterator

import pytest
from claudette import (
    BackendRouter,
    BackendSettings,
    ClaudetteRequest,
    ClaudetteResponse,
    ImagePart,
    Message,
    NoBackendAvailableError,
    RouterOptions,
    TextPart,
    Tool,
)
from claudette.testing.feature_conformance import FEATURE_IMAGE_PNG, assemble_deltas
from claudette_backend_claude import ClaudeBackend
from claudette_backend_claude.testing import AnthropicEmulator
from claudette_backend_ollama import OllamaBackend
from claudette_backend_ollama.testing import OllamaEmulator
from claudette_backend_openai import OpenAIBackend
from claudette_backend_openai.testing import ChatFault, OpenAIEmulator
from claudette_backend_qwen import QwenBackend

PROVIDERS = ("openai", "qwen", "claude", "ollama")
WEATHER = Tool(
    "get_weather",
    "The current weather in a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "weather",
        "schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "temperature_c": {"type": "number"}},
            "required": ["city", "temperature_c"],
        },
    },
}


class Emulators:
    """The four providers' emulators, running."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self.openai = stack.enter_context(OpenAIEmulator())
        self.qwen = stack.enter_context(OpenAIEmulator(flavour="vllm", models=("Qwen/Qwen3-8B",)))
        self.claude = stack.enter_context(AnthropicEmulator())
        self.ollama = stack.enter_context(OllamaEmulator())

    def router(self, **capabilities: tuple[str, ...]) -> BackendRouter:
        """A router with one backend per provider (``capabilities`` overrides some)."""
        router = BackendRouter(RouterOptions())
        caps = {name: capabilities.get(name) for name in PROVIDERS}
        router.register_backend(
            OpenAIBackend(
                "openai",
                BackendSettings(
                    base_url=self.openai.base_url, api_key="sk-o", capabilities=caps["openai"]
                ),
            )
        )
        router.register_backend(
            QwenBackend(
                "qwen",
                BackendSettings(
                    base_url=self.qwen.base_url,
                    model="Qwen/Qwen3-8B",
                    capabilities=capabilities.get("qwen", ("tools", "images", "json_schema")),
                ),
            )
        )
        router.register_backend(
            ClaudeBackend("claude", self.claude.settings(capabilities=caps["claude"]))
        )
        router.register_backend(
            OllamaBackend(
                "ollama",
                BackendSettings(
                    base_url=self.ollama.url,
                    model=self.ollama.models[0],
                    capabilities=caps["ollama"],
                ),
            )
        )
        return router


@pytest.fixture(scope="module")
def emulators() -> Iterator[Emulators]:
    with contextlib.ExitStack() as stack:
        yield Emulators(stack)


async def _ask(router: BackendRouter, request: ClaudetteRequest, stream: bool) -> ClaudetteResponse:
    if not stream:
        return await router.route_request(request)
    chunks = [c async for c in router.stream(request)]
    final = chunks[-1].response
    assert final is not None
    calls = assemble_deltas(chunks)
    assert [calls[i]["name"] for i in sorted(calls)] == [c.name for c in final.tool_calls]
    return final


@pytest.mark.parametrize("stream", [False, True], ids=["send", "stream"])
@pytest.mark.parametrize(
    ("first", "second"),
    [*((p, p) for p in PROVIDERS), *itertools.permutations(PROVIDERS, 2)],
    ids=lambda p: p,
)
async def test_tool_conversation_with_each_turn_on_any_provider(
    emulators: Emulators, first: str, second: str, stream: bool
) -> None:
    router = emulators.router()
    try:
        question = ClaudetteRequest(
            prompt="Use get_weather for Lisbon", tools=[WEATHER], backend=first
        )
        call_turn = await _ask(router, question, stream)
        assert call_turn.backend_used == first
        assert call_turn.finish_reason == "tool_calls"
        (call,) = call_turn.tool_calls
        assert (call.name, dict(call.arguments)) == ("get_weather", {"city": "Lisbon"})
        follow_up = ClaudetteRequest(
            messages=[
                *question.all_messages,
                call_turn.message,
                Message("tool", "21C and sunny", tool_call_id=call.id),
            ],
            tools=[WEATHER],
            backend=second,
        )
        answer = await _ask(router, follow_up, stream)
    finally:
        await router.aclose()
    assert answer.backend_used == second
    assert answer.content == "Tool results: 21C and sunny"
    assert answer.tool_calls == ()


@pytest.mark.parametrize("stream", [False, True], ids=["send", "stream"])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_structured_output_on_every_provider(
    emulators: Emulators, provider: str, stream: bool
) -> None:
    router = emulators.router()
    try:
        response = await _ask(
            router,
            ClaudetteRequest(prompt="Weather for Oslo", response_format=SCHEMA, backend=provider),
            stream,
        )
    finally:
        await router.aclose()
    assert json.loads(response.content) == {"city": "Oslo", "temperature_c": 1.5}


@pytest.mark.parametrize("stream", [False, True], ids=["send", "stream"])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_inline_image_on_every_provider(
    emulators: Emulators, provider: str, stream: bool
) -> None:
    router = emulators.router()
    picture = Message(
        "user",
        [TextPart("What is this?"), ImagePart(data=FEATURE_IMAGE_PNG, media_type="image/png")],
    )
    try:
        response = await _ask(
            router, ClaudetteRequest(messages=[picture], backend=provider), stream
        )
    finally:
        await router.aclose()
    assert response.content.startswith("[1 image] ")


async def test_router_sends_a_tool_request_only_to_a_backend_that_has_tools(
    emulators: Emulators,
) -> None:
    # Ollama is free and would win on cost; without tools it must not be chosen.
    router = emulators.router(ollama=(), qwen=("json_schema",), claude=("images",))
    request = ClaudetteRequest(prompt="Use get_weather for Rome", tools=[WEATHER])
    try:
        explained = {c.name: c for c in router.explain(request)}
        response = await router.route_request(request)
    finally:
        await router.aclose()
    assert response.backend_used == "openai"
    assert explained["ollama"].skipped == "lacks tools, which the request needs"
    assert explained["claude"].skipped == "lacks tools, which the request needs"
    assert explained["openai"].chosen


async def test_router_never_falls_back_to_a_backend_lacking_a_capability(
    emulators: Emulators,
) -> None:
    router = emulators.router(ollama=(), qwen=(), claude=())
    emulators.openai.script(ChatFault.overloaded())
    try:
        with pytest.raises(NoBackendAvailableError) as caught:
            await router.route_request(
                ClaudetteRequest(prompt="Use get_weather for Rome", tools=[WEATHER])
            )
    finally:
        await router.aclose()
        emulators.openai.reset()
    reasons = caught.value.reasons
    assert "openai" in reasons
    assert all(reasons[name] == "lacks tools, which the request needs" for name in ("qwen", "claude", "ollama"))
    assert "lacks tools" in str(caught.value)


async def test_a_forced_backend_lacking_images_says_why(emulators: Emulators) -> None:
    router = emulators.router(claude=("tools",))
    picture = Message("user", [TextPart("Look"), ImagePart(url="https://example.com/cat.png")])
    try:
        with pytest.raises(NoBackendAvailableError, match="lacks images"):
            await router.route_request(ClaudetteRequest(messages=[picture], backend="claude"))
    finally:
        await router.aclose()


async def test_a_forced_tool_call_skips_ollama_which_cannot_force_one(emulators: Emulators) -> None:
    router = emulators.router(openai=(), qwen=(), claude=())
    request = ClaudetteRequest(prompt="Tell me about Rome", tools=[WEATHER], tool_choice="required")
    try:
        explained = {c.name: c for c in router.explain(request)}
        with pytest.raises(NoBackendAvailableError) as caught:
            await router.route_request(request)
        auto = await router.route_request(
            ClaudetteRequest(prompt="Use get_weather for Rome", tools=[WEATHER])
        )
    finally:
        await router.aclose()
    why = "cannot force a tool call (Ollama has no tool_choice)"
    assert explained["ollama"].skipped == why
    assert caught.value.reasons["ollama"] == why
    assert auto.backend_used == "ollama"
