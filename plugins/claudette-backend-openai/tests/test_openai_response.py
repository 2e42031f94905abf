"""How the OpenAI backend reads a completion: content, usage, cost, metadata."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from claudette import ClaudetteRequest
from claudette.testing import LoopbackServer, Reply

from claudette_backend_openai import OpenAIBackend
from claudette_backend_openai.testing import OpenAIEmulator


def _json_reply(data: object, **headers: str) -> Reply:
    return Reply(200, {"content-type": "application/json", **headers}, json.dumps(data).encode())


@pytest.fixture
def recorded(
    claudette_loopback_server: LoopbackServer, make_backend: Callable[..., OpenAIBackend]
) -> tuple[LoopbackServer, OpenAIBackend]:
    """A loopback server replaying recorded bodies, and a backend pointed at it."""
    return claudette_loopback_server, make_backend(f"{claudette_loopback_server.url}/v1")


async def test_reads_the_recorded_completion(
    recorded: tuple[LoopbackServer, OpenAIBackend], transcript: Callable[[str], bytes]
) -> None:
    server, backend = recorded
    server.script(
        Reply(
            200,
            {"content-type": "application/json", "x-request-id": "req_abc"},
            transcript("openai-chat.json"),
        )
    )
    response = await backend.send(ClaudetteRequest(prompt="hi"))
    assert response.content == "Hello there"
    assert (response.tokens_input, response.tokens_output) == (9, 2)
    assert response.finish_reason == "stop"
    assert response.model == "gpt-4o-mini-2024-07-18"
    assert response.backend_used == "openai"


async def test_cost_uses_reported_usage_and_configured_prices(
    recorded: tuple[LoopbackServer, OpenAIBackend],
    transcript: Callable[[str], bytes],
    make_backend: Callable[..., OpenAIBackend],
) -> None:
    server, _ = recorded
    backend = make_backend(
        f"{server.url}/v1", input_cost_per_token=1.4e-7, output_cost_per_token=5.5e-7
    )
    server.script(Reply(200, {"content-type": "application/json"}, transcript("openai-chat.json")))
    response = await backend.send(ClaudetteRequest(prompt="hi"))
    assert response.cost_eur == pytest.approx(9 * 1.4e-7 + 2 * 5.5e-7)
    assert response.price_source == "config"
    assert "usage_estimated" not in response.metadata


async def test_keeps_request_id_and_response_id_in_metadata(
    recorded: tuple[LoopbackServer, OpenAIBackend], transcript: Callable[[str], bytes]
) -> None:
    server, backend = recorded
    server.script(
        Reply(
            200,
            {"content-type": "application/json", "x-request-id": "req_abc"},
            transcript("openai-chat.json"),
        )
    )
    response = await backend.send(ClaudetteRequest(prompt="hi"))
    assert response.metadata["request_id"] == "req_abc"
    assert response.metadata["response_id"] == "chatcmpl-test001"


async def test_null_content_becomes_empty_text(
    recorded: tuple[LoopbackServer, OpenAIBackend],
) -> None:
    server, backend = recorded
    server.script(
        _json_reply(
            {
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": None},
                        "finish_reason": "content_filter",
                    }
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": 0, "total_tokens": 3},
            }
        )
    )
    response = await backend.send(ClaudetteRequest(prompt="hi"))
    assert (response.content, response.finish_reason) == ("", "content_filter")


async def test_length_finish_reason_is_kept(recorded: tuple[LoopbackServer, OpenAIBackend]) -> None:
    server, backend = recorded
    server.script(
        _json_reply(
            {
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "abc"},
                        "finish_reason": "length",
                    }
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1},
            }
        )
    )
    response = await backend.send(ClaudetteRequest(prompt="hi"))
    assert response.finish_reason == "length"


async def test_missing_usage_is_estimated_and_flagged(
    recorded: tuple[LoopbackServer, OpenAIBackend],
) -> None:
    server, backend = recorded
    server.script(
        _json_reply(
            {
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "12345678"},
                        "finish_reason": "stop",
                    }
                ]
            }
        )
    )
    response = await backend.send(ClaudetteRequest(prompt="abcdefgh"))
    assert (response.tokens_input, response.tokens_output) == (2, 2)
    assert response.metadata["usage_estimated"] is True


async def test_vllm_reasoning_content_kept_out_of_the_content(
    recorded: tuple[LoopbackServer, OpenAIBackend],
) -> None:
    server, backend = recorded
    server.script(
        _json_reply(
            {
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": "42",
                            "reasoning_content": "thinking...",
                        },
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1},
            }
        )
    )
    response = await backend.send(ClaudetteRequest(prompt="hi"))
    assert response.content == "42"
    assert response.metadata["reasoning_content"] == "thinking..."


async def test_reads_the_recorded_vllm_completion(
    recorded: tuple[LoopbackServer, OpenAIBackend], transcript: Callable[[str], bytes]
) -> None:
    server, backend = recorded
    server.script(Reply(200, {"content-type": "application/json"}, transcript("vllm-chat.json")))
    response = await backend.send(ClaudetteRequest(prompt="hi"))
    assert (response.content, response.tokens_input, response.tokens_output) == (
        "Hello there",
        20,
        2,
    )
    assert "reasoning_content" not in response.metadata


async def test_emulator_reply_is_derived_from_the_prompt(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    response = await backend.send(ClaudetteRequest(prompt="ping pong"))
    assert response.content == "Echo: ping pong"
    assert response.tokens_output == 3
    assert response.latency_ms > 0


async def test_tokens_match_what_the_emulator_reported(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    response = await backend.send(ClaudetteRequest(prompt="one two three four"))
    assert (response.tokens_input, response.tokens_output) == (
        emulator.prompt_tokens_reported,
        emulator.completion_tokens_reported,
    )
