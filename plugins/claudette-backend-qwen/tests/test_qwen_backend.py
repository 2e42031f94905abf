"""Qwen over the OpenAI-compatible protocol: what it sends, reads, and how it fails."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from claudette import ClaudetteRequest
from claudette.errors import (
    AuthenticationError,
    BackendUnavailableError,
    InvalidRequestError,
    RateLimitError,
)
from claudette.testing import Fault, LoopbackServer, Reply
from claudette_backend_openai import OpenAICompatibleBackend
from claudette_backend_openai.testing import ChatFault, OpenAIEmulator

from claudette_backend_qwen import QwenBackend

REQUEST = ClaudetteRequest(prompt="write a haiku", options={"max_tokens": 50})


def test_reuses_the_openai_compatible_protocol() -> None:
    assert issubclass(QwenBackend, OpenAICompatibleBackend)
    assert QwenBackend.send is OpenAICompatibleBackend.send
    assert QwenBackend.stream is OpenAICompatibleBackend.stream


async def test_sends_max_tokens_not_max_completion_tokens(
    vllm: OpenAIEmulator, backend: QwenBackend
) -> None:
    await backend.send(REQUEST)
    body = vllm.records[-1].body
    assert body["max_tokens"] == 50
    assert "max_completion_tokens" not in body


async def test_sends_the_qwen_model_and_low_temperature(
    vllm: OpenAIEmulator, backend: QwenBackend
) -> None:
    await backend.send(REQUEST)
    body = vllm.records[-1].body
    assert (body["model"], body["temperature"]) == ("Qwen/Qwen2.5-Coder-7B-Instruct", 0.2)


async def test_vllm_accepts_the_non_streamed_request(
    vllm: OpenAIEmulator, backend: QwenBackend
) -> None:
    # the vLLM emulator answers 400 if stream_options is sent without stream, like vLLM
    response = await backend.send(REQUEST)
    assert response.content == "Echo: write a haiku"
    assert "stream_options" not in vllm.records[-1].body


async def test_streamed_request_asks_for_usage(vllm: OpenAIEmulator, backend: QwenBackend) -> None:
    chunks = [c async for c in backend.stream(REQUEST)]
    final = chunks[-1].response
    assert vllm.records[-1].body["stream_options"] == {"include_usage": True}
    assert final is not None
    assert (final.tokens_input, final.tokens_output) == (
        vllm.prompt_tokens_reported,
        vllm.completion_tokens_reported,
    )
    assert "usage_estimated" not in final.metadata


async def test_self_hosted_calls_cost_nothing(vllm: OpenAIEmulator, backend: QwenBackend) -> None:
    response = await backend.send(REQUEST)
    assert response.tokens_output > 0
    assert response.cost_eur == 0.0


async def test_reads_the_recorded_vllm_completion(
    claudette_loopback_server: LoopbackServer,
    make_backend: Callable[..., QwenBackend],
    transcript: Callable[[str], bytes],
) -> None:
    claudette_loopback_server.script(
        Reply(200, {"content-type": "application/json"}, transcript("vllm-chat.json"))
    )
    response = await make_backend(f"{claudette_loopback_server.url}/v1").send(REQUEST)
    assert (response.content, response.tokens_input, response.tokens_output) == (
        "Hello there",
        20,
        2,
    )
    assert (response.model, response.finish_reason) == ("Qwen/Qwen2.5-7B-Instruct", "stop")


async def test_reasoning_content_is_not_in_the_answer(
    make_backend: Callable[..., QwenBackend],
) -> None:
    with OpenAIEmulator(flavour="vllm", reasoning_content="Let me think.") as emu:
        backend = make_backend(emu.base_url)
        sent = await backend.send(REQUEST)
        chunks = [c async for c in backend.stream(REQUEST)]
    streamed = chunks[-1].response
    assert streamed is not None
    assert sent.content == streamed.content == "Echo: write a haiku"
    assert (
        sent.metadata["reasoning_content"]
        == streamed.metadata["reasoning_content"]
        == "Let me think."
    )


async def test_llamacpp_stream_without_usage_is_estimated(
    make_backend: Callable[..., QwenBackend],
) -> None:
    with OpenAIEmulator(flavour="llamacpp") as emu:
        chunks = [c async for c in make_backend(emu.base_url).stream(REQUEST)]
    final = chunks[-1].response
    assert final is not None
    assert final.tokens_output > 0 and final.tokens_input > 0
    assert final.metadata["usage_estimated"] is True


async def test_vllm_bare_unauthorized_is_an_auth_error(
    make_backend: Callable[..., QwenBackend],
) -> None:
    with OpenAIEmulator(flavour="vllm", api_key="vllm-secret-123456") as emu:
        with pytest.raises(AuthenticationError) as info:
            await make_backend(emu.base_url, api_key="wrong-key-123456").send(REQUEST)
    assert (info.value.status_code, info.value.message, info.value.retryable) == (
        401,
        "Unauthorized",
        False,
    )


async def test_vllm_server_key_is_sent(make_backend: Callable[..., QwenBackend]) -> None:
    with OpenAIEmulator(flavour="vllm", api_key="vllm-secret-123456") as emu:
        response = await make_backend(emu.base_url, api_key="vllm-secret-123456").send(REQUEST)
    assert response.content.startswith("Echo:")


@pytest.mark.parametrize("flavour", ["vllm", "vllm-legacy"])
async def test_unknown_model_is_not_retryable(
    flavour: str, make_backend: Callable[..., QwenBackend]
) -> None:
    with OpenAIEmulator(flavour=flavour, models=("Qwen/Qwen3-8B",), strict_models=True) as emu:
        with pytest.raises(InvalidRequestError) as info:
            await make_backend(emu.base_url).send(REQUEST)
    assert info.value.status_code == 404
    assert "does not exist" in info.value.message


async def test_dashscope_throttling_keeps_its_request_id(
    make_backend: Callable[..., QwenBackend],
) -> None:
    with OpenAIEmulator(flavour="dashscope") as emu:
        emu.script(ChatFault.rate_limit(retry_after=3))
        with pytest.raises(RateLimitError) as info:
            await make_backend(emu.base_url).send(REQUEST)
        request_id = emu.records[-1].request_id
    assert (info.value.request_id, info.value.retry_after) == (request_id, 3.0)


async def test_engine_error_is_retryable(vllm: OpenAIEmulator, backend: QwenBackend) -> None:
    vllm.script(ChatFault.server_error())
    with pytest.raises(BackendUnavailableError) as info:
        await backend.send(REQUEST)
    assert (info.value.retryable, info.value.backend) == (True, "qwen")


# -- health ---------------------------------------------------------------------------------------


async def test_healthy_when_vllm_health_answers(vllm: OpenAIEmulator, backend: QwenBackend) -> None:
    assert await backend.health_check() is True
    # /health says the engine is up; the model list says it serves the configured model.
    assert [r.path for r in vllm.requests] == ["/health", "/v1/models"]


async def test_unhealthy_when_vllm_engine_is_dead(
    vllm: OpenAIEmulator, backend: QwenBackend
) -> None:
    vllm.healthy = False
    assert await backend.health_check() is False


async def test_falls_back_to_models_without_a_health_endpoint(
    make_backend: Callable[..., QwenBackend],
) -> None:
    with OpenAIEmulator(flavour="llamacpp") as emu:
        healthy = await make_backend(emu.base_url).health_check()
        paths = [r.path for r in emu.requests]
    assert healthy is True
    assert paths == ["/health", "/v1/models"]


async def test_models_mode_skips_health(
    vllm: OpenAIEmulator, make_backend: Callable[..., QwenBackend]
) -> None:
    assert await make_backend(vllm.base_url, extra={"health": "models"}).health_check() is True
    assert [r.path for r in vllm.requests] == ["/v1/models"]


async def test_health_mode_does_not_fall_back(make_backend: Callable[..., QwenBackend]) -> None:
    with OpenAIEmulator(flavour="llamacpp") as emu:
        assert await make_backend(emu.base_url, extra={"health": "health"}).health_check() is False


async def test_unhealthy_when_refused(make_backend: Callable[..., QwenBackend]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert await make_backend(f"http://127.0.0.1:{port}/v1").health_check() is False


async def test_unhealthy_when_health_hangs(
    claudette_loopback_server: LoopbackServer, make_backend: Callable[..., QwenBackend]
) -> None:
    claudette_loopback_server.script(Fault.hang(3))
    assert await make_backend(f"{claudette_loopback_server.url}/v1", timeout=0.2).health_check() is False
