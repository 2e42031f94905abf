"""OllamaBackend.stream: NDJSON deltas, the final metrics, and broken streams."""

from __future__ import annotations

import pytest
from claudette import (
    BackendUnavailableError,
    ClaudetteRequest,
    InvalidRequestError,
    RateLimitError,
    ResponseFormatError,
    StreamChunk,
)
from claudette.testing import LoopbackServer, Reply, faults

from claudette_backend_ollama import OllamaBackend
from claudette_backend_ollama.testing import OllamaEmulator, OllamaFault
from conftest import MakeBackend, fixture_bytes


async def _collect(
    backend: OllamaBackend, request: ClaudetteRequest | None = None
) -> list[StreamChunk]:
    return [c async for c in backend.stream(request or ClaudetteRequest(prompt="hi"))]


async def _collect_into(backend: OllamaBackend, chunks: list[StreamChunk]) -> None:
    async for chunk in backend.stream(ClaudetteRequest(prompt="hi")):
        chunks.append(chunk)


async def test_recorded_stream_yields_each_delta(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    lines = fixture_bytes("ollama-chat-stream.ndjson").splitlines(keepends=True)
    claudette_loopback_server.script(Reply.stream(lines, "application/x-ndjson"))
    chunks = await _collect(make_backend(base_url=claudette_loopback_server.url))
    assert [(c.text, c.is_final) for c in chunks] == [
        ("Hello", False),
        (" there", False),
        ("", True),
    ]


async def test_final_chunk_carries_usage_and_text(make_backend: MakeBackend) -> None:
    final = (await _collect(make_backend()))[-1]
    assert final.response is not None
    assert final.response.content == "Hello there"
    assert (final.response.tokens_input, final.response.tokens_output) == (11, 2)
    assert final.response.finish_reason == "stop"
    assert final.response.cost_eur == 0.0


async def test_final_chunk_carries_durations_in_ms(make_backend: MakeBackend) -> None:
    final = (await _collect(make_backend()))[-1]
    assert final.response is not None
    assert final.response.metadata["total_duration_ms"] == pytest.approx(512.345678)


async def test_chunks_name_the_backend(make_backend: MakeBackend) -> None:
    chunks = await _collect(make_backend("local-gpu"))
    assert {c.backend for c in chunks} == {"local-gpu"}


async def test_long_answer_streams_word_by_word(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    emulator.reply = "one two three four"
    chunks = await _collect(make_backend())
    assert [c.text for c in chunks[:-1]] == ["one", " two", " three", " four"]
    assert chunks[-1].response is not None
    assert chunks[-1].response.tokens_output == 4


async def test_text_on_the_done_line_is_kept(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(
        Reply.stream(
            [
                '{"model":"m","message":{"role":"assistant","content":"Hi"},"done":false}\n',
                '{"model":"m","message":{"role":"assistant","content":"!"},"done":true,'
                '"done_reason":"stop","eval_count":2}\n',
            ],
            "application/x-ndjson",
        )
    )
    chunks = await _collect(make_backend(base_url=claudette_loopback_server.url))
    assert "".join(c.text for c in chunks) == "Hi!"
    assert chunks[-1].response is not None
    assert chunks[-1].response.content == "Hi!"


async def test_stream_without_metrics_reports_zero_usage(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(
        Reply.stream(
            ['{"model":"m","message":{"role":"assistant","content":"Hi"},"done":true}\n'],
            "application/x-ndjson",
        )
    )
    final = (await _collect(make_backend(base_url=claudette_loopback_server.url)))[-1]
    assert final.response is not None
    assert (final.response.tokens_input, final.response.tokens_output) == (0, 0)


async def test_error_line_after_200_raises_retryable_error(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    emulator.script(OllamaFault.error_line("llama runner process has terminated", after_lines=1))
    chunks: list[StreamChunk] = []
    with pytest.raises(BackendUnavailableError) as info:
        await _collect_into(make_backend(), chunks)
    assert [c.text for c in chunks] == ["Hello"]
    assert info.value.retryable is True
    assert info.value.backend == "ollama"
    assert "llama runner process has terminated" in info.value.message


async def test_model_not_found_line_is_not_retryable(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    emulator.script(OllamaFault.error_line("model 'gone:1b' not found", after_lines=0))
    with pytest.raises(InvalidRequestError) as info:
        await _collect(make_backend())
    assert info.value.retryable is False
    assert "ollama pull gone:1b" in info.value.message


async def test_stream_without_done_line_is_a_format_error(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    emulator.script(OllamaFault.stream_unfinished(after_lines=1))
    with pytest.raises(ResponseFormatError) as info:
        await _collect(make_backend())
    assert info.value.retryable is True
    assert "done:true" in info.value.message


async def test_connection_cut_mid_stream_is_retryable(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    emulator.script(OllamaFault.stream_cut(after_lines=1))
    chunks: list[StreamChunk] = []
    with pytest.raises(BackendUnavailableError) as info:
        await _collect_into(make_backend(), chunks)
    assert [c.text for c in chunks] == ["Hello"]
    assert info.value.retryable is True


async def test_half_written_line_is_retryable(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    emulator.script(faults.cut_after(0))  # half of the first line, then the connection drops
    with pytest.raises(BackendUnavailableError) as info:
        await _collect(make_backend())
    assert info.value.retryable is True


async def test_malformed_line_in_a_stream_is_a_retryable_format_error(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    emulator.script(OllamaFault.truncated_json())
    with pytest.raises(ResponseFormatError) as info:
        await _collect(make_backend())
    assert info.value.retryable is True
    assert "malformed JSON" in info.value.message


async def test_garbage_line_is_a_format_error(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(Reply.stream(["<html>proxy error</html>\n"], "text/html"))
    with pytest.raises(ResponseFormatError):
        await _collect(make_backend(base_url=claudette_loopback_server.url))


async def test_non_object_line_is_a_format_error(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(Reply.stream(["[1, 2]\n"], "application/x-ndjson"))
    with pytest.raises(ResponseFormatError):
        await _collect(make_backend(base_url=claudette_loopback_server.url))


async def test_error_status_before_stream_is_translated(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    emulator.script(OllamaFault.rate_limited(retry_after=3))
    with pytest.raises(RateLimitError) as info:
        await _collect(make_backend())
    assert (info.value.status_code, info.value.retry_after) == (429, 3.0)


async def test_unknown_model_stream_is_not_retryable(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        await _collect(make_backend(model="nope:1b"))
    assert info.value.status_code == 404
    assert "ollama pull nope:1b" in info.value.message


async def test_two_streams_in_a_row_both_complete(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    backend = make_backend()
    await _collect(backend)
    await _collect(backend)
    assert emulator.chat_count == 2
    assert emulator.completed[-1].stream is True


async def test_closing_a_stream_early_leaves_the_backend_usable(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    emulator.reply = "one two three four five six"
    backend = make_backend()
    stream = backend.stream(ClaudetteRequest(prompt="hi"))
    first = await stream.__anext__()
    await stream.aclose()
    response = await backend.send(ClaudetteRequest(prompt="again"))
    assert (first.text, response.content) == ("one", "one two three four five six")
