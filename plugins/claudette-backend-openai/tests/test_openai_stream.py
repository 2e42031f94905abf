"""Streaming: SSE events, the usage chunk, [DONE], comments, and estimates."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from claudette import ClaudetteRequest, StreamChunk
from claudette.http import DRAIN_TIMEOUT
from claudette.testing import LoopbackServer, Reply

from claudette_backend_openai import OpenAIBackend
from claudette_backend_openai.testing import OpenAIEmulator


async def _collect(
    backend: OpenAIBackend, request: ClaudetteRequest | None = None
) -> list[StreamChunk]:
    return [c async for c in backend.stream(request or ClaudetteRequest(prompt="hi"))]


def _events(raw: bytes) -> list[str]:
    """Split a recorded SSE transcript into its events (one chunk each)."""
    return [e + "\n\n" for e in raw.decode().split("\n\n") if e.strip()]


@pytest.fixture
def sse_server(
    claudette_loopback_server: LoopbackServer, make_backend: Callable[..., OpenAIBackend]
) -> tuple[LoopbackServer, OpenAIBackend]:
    """A loopback server for scripted streams and a backend pointed at it."""
    return claudette_loopback_server, make_backend(f"{claudette_loopback_server.url}/v1")


async def test_recorded_stream_yields_each_delta_then_the_response(
    sse_server: tuple[LoopbackServer, OpenAIBackend], transcript: Callable[[str], bytes]
) -> None:
    server, backend = sse_server
    server.script(
        Reply.stream(
            _events(transcript("openai-chat-stream.sse")), headers={"x-request-id": "req_s1"}
        )
    )
    chunks = await _collect(backend)
    assert [c.text for c in chunks] == ["Hello", " there", ""]
    assert [c.is_final for c in chunks] == [False, False, True]


async def test_final_response_carries_stream_usage_and_cost(
    sse_server: tuple[LoopbackServer, OpenAIBackend],
    transcript: Callable[[str], bytes],
    make_backend: Callable[..., OpenAIBackend],
) -> None:
    server, _ = sse_server
    backend = make_backend(
        f"{server.url}/v1", input_cost_per_token=1.4e-7, output_cost_per_token=5.5e-7
    )
    server.script(
        Reply.stream(
            _events(transcript("openai-chat-stream.sse")), headers={"x-request-id": "req_s1"}
        )
    )
    final = (await _collect(backend))[-1].response
    assert final is not None
    assert final.content == "Hello there"
    assert (final.tokens_input, final.tokens_output) == (9, 2)
    assert final.cost_eur == pytest.approx(9 * 1.4e-7 + 2 * 5.5e-7)
    assert final.finish_reason == "stop"
    assert final.metadata["request_id"] == "req_s1"
    assert "usage_estimated" not in final.metadata


async def test_every_chunk_names_the_backend(
    sse_server: tuple[LoopbackServer, OpenAIBackend], transcript: Callable[[str], bytes]
) -> None:
    server, backend = sse_server
    server.script(Reply.stream(_events(transcript("openai-chat-stream.sse"))))
    assert {c.backend for c in await _collect(backend)} == {"openai"}


async def test_comment_lines_are_ignored(
    sse_server: tuple[LoopbackServer, OpenAIBackend], transcript: Callable[[str], bytes]
) -> None:
    server, backend = sse_server
    events = _events(transcript("openai-chat-stream.sse"))
    server.script(Reply.stream([": ping\n\n", events[0], ": ping\n\n", *events[1:]]))
    assert "".join(c.text for c in await _collect(backend)) == "Hello there"


async def test_events_split_across_network_chunks_are_reassembled(
    sse_server: tuple[LoopbackServer, OpenAIBackend], transcript: Callable[[str], bytes]
) -> None:
    server, backend = sse_server
    raw = transcript("openai-chat-stream.sse")
    server.script(Reply.stream([raw[i : i + 7] for i in range(0, len(raw), 7)]))
    chunks = await _collect(backend)
    assert "".join(c.text for c in chunks) == "Hello there"
    assert chunks[-1].response is not None and chunks[-1].response.tokens_output == 2


async def test_stream_without_usage_is_estimated(
    sse_server: tuple[LoopbackServer, OpenAIBackend],
) -> None:
    server, backend = sse_server
    server.script(
        Reply.stream(
            [
                'data: {"choices":[{"index":0,"delta":{"content":"abcdefgh"},"finish_reason":null}]}\n\n',
                'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
                "data: [DONE]\n\n",
            ]
        )
    )
    final = (await _collect(backend, ClaudetteRequest(prompt="12345678"))).pop().response
    assert final is not None
    assert (final.tokens_input, final.tokens_output) == (2, 2)
    assert final.metadata["usage_estimated"] is True


async def test_emulator_stream_matches_a_send(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    request = ClaudetteRequest(prompt="alpha beta gamma")
    chunks = await _collect(backend, request)
    sent = await backend.send(request)
    final = chunks[-1].response
    assert final is not None
    assert "".join(c.text for c in chunks) == sent.content == final.content
    assert (final.tokens_input, final.tokens_output) == (sent.tokens_input, sent.tokens_output)


async def test_stream_finish_reason_length_when_budget_hit(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    chunks = await _collect(
        backend, ClaudetteRequest(prompt="a b c d e", options={"max_tokens": 2})
    )
    final = chunks[-1].response
    assert final is not None
    assert (final.content, final.finish_reason, final.tokens_output) == ("Echo: a", "length", 2)


async def test_reasoning_deltas_go_to_metadata(
    sse_server: tuple[LoopbackServer, OpenAIBackend],
) -> None:
    server, backend = sse_server
    server.script(
        Reply.stream(
            [
                'data: {"choices":[{"index":0,"delta":{"reasoning_content":"hmm"},"finish_reason":null}]}\n\n',
                'data: {"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}\n\n',
                "data: [DONE]\n\n",
            ]
        )
    )
    chunks = await _collect(backend)
    final = chunks[-1].response
    assert final is not None
    assert (final.content, final.metadata["reasoning_content"]) == ("ok", "hmm")


async def test_streams_read_to_the_end_so_the_connection_is_reused(
    sse_server: tuple[LoopbackServer, OpenAIBackend], transcript: Callable[[str], bytes]
) -> None:
    server, backend = sse_server
    raw = transcript("openai-chat-stream.sse")
    server.script(*[Reply.stream([raw[i : i + 50] for i in range(0, len(raw), 50)])] * 3)
    for _ in range(3):
        assert "".join(c.text for c in await _collect(backend)) == "Hello there"
    assert server.connections == 1


async def test_a_body_held_open_after_done_costs_at_most_the_drain_window(
    claudette_loopback_server: LoopbackServer,
    make_backend: Callable[..., OpenAIBackend],
    transcript: Callable[[str], bytes],
) -> None:
    backend = make_backend(f"{claudette_loopback_server.url}/v1", timeout=30.0)
    events = _events(transcript("openai-chat-stream.sse"))
    # Every event, [DONE] included, then the server neither ends the body nor closes.
    claudette_loopback_server.script(Reply.stream([*events, ""], hang_after_chunks=len(events)))
    started = time.monotonic()
    chunks = await _collect(backend)
    assert "".join(c.text for c in chunks) == "Hello there"
    assert chunks[-1].response is not None
    assert DRAIN_TIMEOUT * 0.9 <= time.monotonic() - started < DRAIN_TIMEOUT + 3.0
