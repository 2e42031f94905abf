"""Registration, DashScope requests, and routing between OpenAI and Qwen."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import entry_points

import httpx
import pytest
from claudette import (
    BackendRouter,
    BackendSettings,
    ClaudettePlugins,
    ClaudetteRequest,
    RouterOptions,
)
from claudette_backend_openai import plugin as openai_plugin
from claudette_backend_openai.testing import ChatFault, OpenAIEmulator

import claudette_backend_qwen
from claudette_backend_qwen import DASHSCOPE_BASE_URLS, QwenBackend
from claudette_backend_qwen import plugin as qwen_plugin

KEY = "sk-dashscope-test-123456"


def test_plugin_registers_qwen() -> None:
    pm = ClaudettePlugins(autoload=False, plugins=[qwen_plugin])
    assert pm.registry.get("qwen").cls is QwenBackend


def test_create_with_empty_settings_works() -> None:
    pm = ClaudettePlugins(autoload=False, plugins=[qwen_plugin])
    backend = pm.registry.create("qwen", BackendSettings())
    assert isinstance(backend, QwenBackend)
    assert backend.settings.base_url == "http://localhost:8000/v1"


def test_entry_point_is_declared() -> None:
    eps = {ep.name: ep.value for ep in entry_points(group="claudette.backends")}
    assert eps["qwen"] == "claudette_backend_qwen.plugin"


def test_package_version() -> None:
    assert claudette_backend_qwen.__version__ == "0.1.0"


def _dashscope_backend(seen: list[httpx.Request], region: str = "intl") -> QwenBackend:
    """A DashScope backend whose client answers in memory (no network)."""

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"object": "list", "data": []})
        return httpx.Response(
            200,
            json={
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "ni hao"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
            },
        )

    settings = BackendSettings(api_key=KEY, extra={"dashscope_region": region})
    base = DASHSCOPE_BASE_URLS[region]
    client = httpx.AsyncClient(base_url=base, transport=httpx.MockTransport(answer))
    return QwenBackend("qwen", settings, client=client)


async def test_dashscope_request_goes_to_the_regional_endpoint_with_bearer() -> None:
    seen: list[httpx.Request] = []
    backend = _dashscope_backend(seen, "us")
    response = await backend.send(ClaudetteRequest(prompt="hi"))
    await backend.client.aclose()
    assert (
        str(seen[0].url) == "https://dashscope-us.aliyuncs.com/compatible-mode/v1/chat/completions"
    )
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"
    # DashScope's prices are in no table: an unknown price, said so, never a made-up one.
    assert (response.cost_eur, response.price_source) == (0.0, "unknown")


async def test_dashscope_health_lists_models() -> None:
    seen: list[httpx.Request] = []
    backend = _dashscope_backend(seen)
    healthy = await backend.health_check()
    await backend.client.aclose()
    assert healthy is True
    assert [r.url.path for r in seen] == ["/compatible-mode/v1/models"]


# -- routing ---------------------------------------------------------------------------------------


@pytest.fixture
def openai_emulator() -> Iterator[OpenAIEmulator]:
    """An OpenAI emulator."""
    with OpenAIEmulator(api_key="sk-openai-test-123456") as emu:
        yield emu


def _router(openai_url: str, qwen_url: str, *, openai_first: bool) -> BackendRouter:
    pm = ClaudettePlugins(autoload=False, plugins=[openai_plugin, qwen_plugin])
    # priority alone decides the order (no cost or latency preference)
    router = BackendRouter(
        RouterOptions(
            cost_weight=0.0, latency_weight=0.0, availability_weight=1.0, health_checks=False
        ),
        plugins=pm,
    )
    common = {"timeout": 5.0, "verify_tls": False}
    router.register_backend(
        pm.registry.create(
            "openai",
            BackendSettings(
                base_url=openai_url,
                api_key="sk-openai-test-123456",
                priority=1 if openai_first else 2,
                **common,
            ),
        )
    )
    router.register_backend(
        pm.registry.create(
            "qwen", BackendSettings(base_url=qwen_url, priority=2 if openai_first else 1, **common)
        )
    )
    return router


async def test_router_falls_back_from_openai_to_qwen(
    openai_emulator: OpenAIEmulator, vllm: OpenAIEmulator
) -> None:
    openai_emulator.fail_always(ChatFault.overloaded())
    async with _router(openai_emulator.base_url, vllm.base_url, openai_first=True) as router:
        response = await router.route_request(ClaudetteRequest(prompt="hello"))
    assert (response.backend_used, response.content) == ("qwen", "Echo: hello")
    assert response.metadata["failed_backends"] == ["openai"]


async def test_router_falls_back_from_qwen_to_openai(
    openai_emulator: OpenAIEmulator, vllm: OpenAIEmulator
) -> None:
    vllm.fail_always(ChatFault.reset())
    async with _router(openai_emulator.base_url, vllm.base_url, openai_first=False) as router:
        chunks = [c async for c in router.stream(ClaudetteRequest(prompt="hello"))]
    final = chunks[-1].response
    assert final is not None and final.backend_used == "openai"
    assert (vllm.chat_count, openai_emulator.chat_count) == (1, 1)
