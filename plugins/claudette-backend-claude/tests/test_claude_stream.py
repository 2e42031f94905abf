"""Streaming: named SSE events in, text chunks and one final response out."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from claude_support import API_KEY, assert_no_key, fixture_bytes
from claudette import (
    BackendSettings,
    BackendTimeoutError,
    BackendUnavailableError,
    ClaudetteRequest,
    InvalidRequestError,
    RateLimitError,
    ResponseFormatError,
    StreamChunk,
)
from claudette.testing import LoopbackServer, Reply

from claudette_backend_claude import ClaudeBackend
from claudette_backend_claude.testing import AnthropicEmulator, AnthropicFault

INPUT_PRICE = 2.8e-6
OUTPUT_PRICE = 1.4e-5


def _events_of(raw: bytes) -> list[str]:
    """A recorded transcript split into its events (one stream chunk each)."""
    return [e + "\n\n" for e in raw.decode().split("\n\n") if e]


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


def _message_start(input_tokens: int = 7) -> str:
    message = {"id": "msg_x", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
               "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": input_tokens, "output_tokens": 1}}
    return _event("message_start", {"type": "message_start", "message": message})


def _delta(text: str) -> str:
    return _event("content_block_delta",
                  {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}})


def _message_end(output_tokens: int, stop_reason: str = "end_turn") -> list[str]:
    return [
        _event("message_delta", {"type": "message_delta",
                                 "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                 "usage": {"output_tokens": output_tokens}}),
        _event("message_stop", {"type": "message_stop"}),
    ]


async def _collect(
    server: LoopbackServer,
    events: Sequence[str],
    settings: BackendSettings | None = None,
    **headers: str,
) -> list[StreamChunk]:
    server.script(Reply.stream(list(events), headers=headers))
    settings = (settings or BackendSettings()).with_defaults(
        BackendSettings(base_url=server.url, api_key=API_KEY)
    )
    backend = ClaudeBackend("claude", settings)
    try:
        return [chunk async for chunk in backend.stream(ClaudetteRequest(prompt="hi"))]
    finally:
        await backend.aclose()


async def test_recorded_stream_yields_text_chunks(claudette_loopback_server: LoopbackServer) -> None:
    chunks = await _collect(claudette_loopback_server, _events_of(fixture_bytes("anthropic-message-stream.sse")))
    assert [c.text for c in chunks] == ["Hello", " there", ""]
    assert [c.is_final for c in chunks] == [False, False, True]
    assert {c.backend for c in chunks} == {"claude"}


async def test_recorded_stream_final_response_has_usage_and_cost(claudette_loopback_server: LoopbackServer) -> None:
    events = _events_of(fixture_bytes("anthropic-message-stream.sse"))
    priced = BackendSettings(input_cost_per_token=INPUT_PRICE, output_cost_per_token=OUTPUT_PRICE)
    chunks = await _collect(claudette_loopback_server, events, priced, **{"request-id": "req_s1"})
    final = chunks[-1].response
    assert final is not None
    assert final.content == "Hello there"
    assert (final.tokens_input, final.tokens_output) == (12, 2)
    assert final.cost_eur == pytest.approx(12 * INPUT_PRICE + 2 * OUTPUT_PRICE)
    assert final.finish_reason == "stop"
    assert final.model == "claude-sonnet-4-5"
    assert final.metadata["request_id"] == "req_s1"
    assert final.metadata["stop_reason"] == "end_turn"


async def test_ping_anywhere_is_ignored(claudette_loopback_server: LoopbackServer) -> None:
    ping = _event("ping", {"type": "ping"})
    events = [ping, _message_start(), ping, _delta("a"), ping, _delta("b"), ping, *_message_end(2)]
    chunks = await _collect(claudette_loopback_server, events)
    assert [c.text for c in chunks] == ["a", "b", ""]


async def test_unknown_events_are_ignored(claudette_loopback_server: LoopbackServer) -> None:
    events = [
        _message_start(),
        _event("future_event", {"type": "future_event", "whatever": [1, 2]}),
        "event: odd\ndata: not json at all\n\n",
        _delta("ok"),
        *_message_end(1),
    ]
    chunks = await _collect(claudette_loopback_server, events)
    assert [c.text for c in chunks] == ["ok", ""]


async def test_tool_use_deltas_are_tool_call_pieces_never_text(
    claudette_loopback_server: LoopbackServer,
) -> None:
    tool_start = _event("content_block_start", {"type": "content_block_start", "index": 1,
                                                "content_block": {"type": "tool_use", "id": "toolu_1",
                                                                  "name": "calc", "input": {}}})
    tool_delta = _event("content_block_delta", {"type": "content_block_delta", "index": 1,
                                                "delta": {"type": "input_json_delta", "partial_json": "{\"x\": 1}"}})
    thinking = _event("content_block_delta", {"type": "content_block_delta", "index": 2,
                                              "delta": {"type": "thinking_delta", "thinking": "hm"}})
    events = [_message_start(), _delta("text"), tool_start, tool_delta, thinking, *_message_end(3, "tool_use")]
    chunks = await _collect(claudette_loopback_server, events)
    assert [c.text for c in chunks] == ["text", "", "", ""]
    assert [d.arguments for c in chunks for d in c.tool_call_deltas] == ["", '{"x": 1}']
    final = chunks[-1].response
    assert final is not None
    assert final.finish_reason == "tool_calls"
    assert [(c.id, c.name, dict(c.arguments)) for c in final.tool_calls] == [("toolu_1", "calc", {"x": 1})]


async def test_input_json_delta_without_a_tool_use_block_is_a_format_error(
    claudette_loopback_server: LoopbackServer,
) -> None:
    stray = _event("content_block_delta", {"type": "content_block_delta", "index": 1,
                                           "delta": {"type": "input_json_delta", "partial_json": "{"}})
    with pytest.raises(ResponseFormatError):
        await _collect(claudette_loopback_server, [_message_start(), stray, *_message_end(3, "tool_use")])


async def test_output_tokens_come_from_the_last_message_delta(claudette_loopback_server: LoopbackServer) -> None:
    events = [_message_start(input_tokens=30), _delta("x"), *_message_end(17)]
    final = (await _collect(claudette_loopback_server, events))[-1].response
    assert final is not None
    assert (final.tokens_input, final.tokens_output) == (30, 17)


async def test_emulator_stream_through_backend(backend: ClaudeBackend, emulator: AnthropicEmulator) -> None:
    emulator.reply = "one two three"
    chunks = [c async for c in backend.stream(ClaudetteRequest(prompt="count"))]
    assert [c.text for c in chunks] == ["one", " two", " three", ""]
    final = chunks[-1].response
    assert final is not None
    assert final.tokens_output == emulator.calls[-1].output_tokens == 3


async def test_error_event_after_200_raises_unavailable(backend: ClaudeBackend, emulator: AnthropicEmulator) -> None:
    emulator.fail_next(AnthropicFault.stream_error("overloaded_error", after_events=3))
    with pytest.raises(BackendUnavailableError) as info:
        _ = [c async for c in backend.stream(ClaudetteRequest(prompt="hi"))]
    error = info.value
    assert error.retryable is True
    assert error.error_type == "overloaded_error"
    assert error.backend == "claude"
    assert error.request_id == emulator.calls[-1].request_id
    assert "Overloaded" in error.message
    assert_no_key(error)


async def test_error_event_of_a_client_error_type_is_not_retryable(
    backend: ClaudeBackend, emulator: AnthropicEmulator
) -> None:
    emulator.fail_next(AnthropicFault.stream_error("invalid_request_error", message="prompt too long"))
    with pytest.raises(InvalidRequestError) as info:
        _ = [c async for c in backend.stream(ClaudetteRequest(prompt="hi"))]
    assert info.value.retryable is False
    assert info.value.error_type == "invalid_request_error"


async def test_text_before_an_error_event_reaches_the_caller(
    backend: ClaudeBackend, emulator: AnthropicEmulator
) -> None:
    emulator.reply = "one two three"
    emulator.fail_next(AnthropicFault.stream_error(after_events=5))  # start, block, ping, 2 deltas
    received: list[str] = []
    with pytest.raises(BackendUnavailableError):
        async for chunk in backend.stream(ClaudetteRequest(prompt="hi")):
            received.append(chunk.text)
    assert received == ["one", " two"]


async def test_stream_ending_without_message_stop_is_a_format_error(
    backend: ClaudeBackend, emulator: AnthropicEmulator
) -> None:
    emulator.fail_next(AnthropicFault.stream_cut(after_events=4))
    with pytest.raises(ResponseFormatError) as info:
        _ = [c async for c in backend.stream(ClaudetteRequest(prompt="hi"))]
    assert info.value.retryable is True
    assert "message_stop" in info.value.message


async def test_stream_cut_by_the_connection_is_retryable(
    backend: ClaudeBackend, emulator: AnthropicEmulator
) -> None:
    emulator.fail_next(AnthropicFault.stream_cut(after_events=4, abort=True))
    with pytest.raises(BackendUnavailableError) as info:
        _ = [c async for c in backend.stream(ClaudetteRequest(prompt="hi"))]
    assert info.value.retryable is True
    assert info.value.request_id == emulator.calls[-1].request_id


async def test_stream_refused_with_429_raises_rate_limit(backend: ClaudeBackend, emulator: AnthropicEmulator) -> None:
    emulator.fail_next(AnthropicFault.rate_limit(retry_after=4))
    with pytest.raises(RateLimitError) as info:
        _ = [c async for c in backend.stream(ClaudetteRequest(prompt="hi"))]
    assert info.value.retry_after == 4.0
    assert info.value.status_code == 429


async def test_json_answer_to_a_stream_request_is_one_final_chunk(claudette_loopback_server: LoopbackServer) -> None:
    claudette_loopback_server.script(
        Reply(200, {"content-type": "application/json"}, fixture_bytes("anthropic-message.json"))
    )
    backend = ClaudeBackend("claude", BackendSettings(base_url=claudette_loopback_server.url, api_key=API_KEY))
    try:
        chunks = [c async for c in backend.stream(ClaudetteRequest(prompt="hi"))]
    finally:
        await backend.aclose()
    assert len(chunks) == 1
    assert chunks[0].text == "Hello there"
    assert chunks[0].response is not None
    assert chunks[0].response.tokens_output == 2


async def test_event_before_message_start_is_a_format_error(claudette_loopback_server: LoopbackServer) -> None:
    with pytest.raises(ResponseFormatError):
        await _collect(claudette_loopback_server, [_delta("early"), *_message_end(1)])


async def test_stream_of_wrong_content_type_is_a_format_error(claudette_loopback_server: LoopbackServer) -> None:
    claudette_loopback_server.script(Reply.text("<html>proxy</html>", content_type="text/html"))
    backend = ClaudeBackend("claude", BackendSettings(base_url=claudette_loopback_server.url, api_key=API_KEY))
    try:
        with pytest.raises(ResponseFormatError) as info:
            _ = [c async for c in backend.stream(ClaudetteRequest(prompt="hi"))]
    finally:
        await backend.aclose()
    assert "text/html" in info.value.message


async def test_stream_that_goes_silent_times_out(emulator: AnthropicEmulator) -> None:
    emulator.fail_next(AnthropicFault.stream_hang(after_events=2))
    backend = ClaudeBackend("claude", emulator.settings(timeout=0.3))
    try:
        with pytest.raises(BackendTimeoutError) as info:
            _ = [c async for c in backend.stream(ClaudetteRequest(prompt="hi"))]
    finally:
        await backend.aclose()
    assert info.value.retryable is True
