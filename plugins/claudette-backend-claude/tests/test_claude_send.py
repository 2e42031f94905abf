"""Reading a Messages API answer: text blocks, usage, cost, stop reasons, metadata."""

from __future__ import annotations

from typing import Any

import pytest
from claude_support import API_KEY, fixture_bytes
from claudette import BackendSettings, ClaudetteRequest, ClaudetteResponse, ResponseFormatError
from claudette.testing import LoopbackServer, Reply

from claudette_backend_claude import ClaudeBackend
from claudette_backend_claude.testing import AnthropicEmulator

INPUT_PRICE = 2.8e-6
OUTPUT_PRICE = 1.4e-5


async def _send_raw(
    server: LoopbackServer, reply: Reply, request: ClaudetteRequest | None = None, **settings: Any
) -> ClaudetteResponse:
    server.script(reply)
    backend = ClaudeBackend("claude", BackendSettings(base_url=server.url, api_key=API_KEY, **settings))
    try:
        return await backend.send(request or ClaudetteRequest(prompt="hi"))
    finally:
        await backend.aclose()


def _json_reply(body: bytes, **headers: str) -> Reply:
    return Reply(200, {"content-type": "application/json", **headers}, body)


async def test_recorded_message_is_parsed(claudette_loopback_server: LoopbackServer) -> None:
    reply = _json_reply(fixture_bytes("anthropic-message.json"), **{"request-id": "req_011Rec"})
    response = await _send_raw(claudette_loopback_server, reply)
    assert response.content == "Hello there"
    assert response.model == "claude-sonnet-4-5"
    assert (response.tokens_input, response.tokens_output) == (12, 2)
    assert response.finish_reason == "stop"
    assert response.backend_used == "claude"


async def test_cost_uses_configured_eur_prices(claudette_loopback_server: LoopbackServer) -> None:
    response = await _send_raw(
        claudette_loopback_server,
        _json_reply(fixture_bytes("anthropic-message.json")),
        input_cost_per_token=INPUT_PRICE,
        output_cost_per_token=OUTPUT_PRICE,
    )
    assert response.cost_eur == pytest.approx(12 * INPUT_PRICE + 2 * OUTPUT_PRICE)
    assert response.price_source == "config"


async def test_metadata_keeps_request_id_raw_stop_reason_and_cache_usage(
    claudette_loopback_server: LoopbackServer,
) -> None:
    reply = _json_reply(fixture_bytes("anthropic-message.json"), **{"request-id": "req_011Rec"})
    response = await _send_raw(claudette_loopback_server, reply)
    assert response.metadata["request_id"] == "req_011Rec"
    assert response.metadata["stop_reason"] == "end_turn"
    assert response.metadata["message_id"] == "msg_01TestAbc"
    assert response.metadata["cache_creation_input_tokens"] == 0
    assert response.metadata["cache_read_input_tokens"] == 0
    assert "usage_estimated" not in response.metadata


async def test_text_blocks_are_joined_tool_use_is_a_call_and_other_blocks_ignored(
    emulator: AnthropicEmulator,
) -> None:
    emulator.reply = [
        {"type": "thinking", "thinking": "let me see", "signature": "sig"},
        {"type": "text", "text": "The answer "},
        {"type": "tool_use", "id": "toolu_1", "name": "calc", "input": {"x": 1}},
        {"type": "text", "text": "is 4."},
    ]
    backend = ClaudeBackend("claude", emulator.settings())
    try:
        response = await backend.send(ClaudetteRequest(prompt="2+2?"))
    finally:
        await backend.aclose()
    assert response.content == "The answer is 4."
    assert response.metadata["skipped_blocks"] == ["thinking"]
    assert [(c.id, c.name, dict(c.arguments)) for c in response.tool_calls] == [
        ("toolu_1", "calc", {"x": 1})
    ]
    assert response.finish_reason == "tool_calls"
    assert response.tokens_output == emulator.calls[-1].output_tokens


async def test_max_tokens_stop_is_length(backend: ClaudeBackend, emulator: AnthropicEmulator) -> None:
    emulator.reply = "one two three four five"
    response = await backend.send(ClaudetteRequest(prompt="count", options={"max_tokens": 2}))
    assert response.content == "one two"
    assert response.finish_reason == "length"
    assert response.metadata["stop_reason"] == "max_tokens"


async def test_stop_sequence_stop_is_stop_with_raw_reason(
    backend: ClaudeBackend, emulator: AnthropicEmulator
) -> None:
    emulator.reply = "alpha beta END gamma"
    response = await backend.send(ClaudetteRequest(prompt="go", options={"stop": ["END"]}))
    assert response.content == "alpha beta "
    assert response.finish_reason == "stop"
    assert response.metadata["stop_reason"] == "stop_sequence"
    assert response.metadata["stop_sequence"] == "END"


async def test_other_stop_reasons_are_kept(claudette_loopback_server: LoopbackServer) -> None:
    body = (
        b'{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5",'
        b'"content":[{"type":"text","text":"I cannot help with that."}],"stop_reason":"refusal",'
        b'"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":6}}'
    )
    response = await _send_raw(claudette_loopback_server, _json_reply(body))
    assert response.finish_reason == "refusal"
    assert response.metadata["stop_reason"] == "refusal"


async def test_missing_usage_is_estimated(claudette_loopback_server: LoopbackServer) -> None:
    body = b'{"type":"message","content":[{"type":"text","text":"abcdefgh"}],"stop_reason":"end_turn"}'
    response = await _send_raw(claudette_loopback_server, _json_reply(body))
    assert response.metadata["usage_estimated"] is True
    assert response.tokens_output == 2


async def test_empty_content_list_gives_empty_text(claudette_loopback_server: LoopbackServer) -> None:
    body = b'{"type":"message","content":[],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":0}}'
    response = await _send_raw(claudette_loopback_server, _json_reply(body))
    assert response.content == ""
    assert response.tokens_output == 0


@pytest.mark.parametrize(
    "body",
    [
        b"[1, 2, 3]",
        b'{"type":"message","content":"not a list"}',
        b'{"type":"message","content":[{"type":"text"}]}',
        b"<html>gateway oops</html>",
    ],
    ids=["json-array", "content-not-list", "text-block-without-text", "html"],
)
async def test_body_outside_the_protocol_is_a_retryable_format_error(
    claudette_loopback_server: LoopbackServer, body: bytes
) -> None:
    with pytest.raises(ResponseFormatError) as info:
        await _send_raw(claudette_loopback_server, _json_reply(body, **{"request-id": "req_bad"}))
    assert info.value.retryable is True
    assert info.value.backend == "claude"
    assert info.value.request_id == "req_bad"
