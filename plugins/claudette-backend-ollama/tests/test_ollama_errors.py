"""Every Ollama failure becomes the right claudette error (one translation point)."""

from __future__ import annotations

import time

import pytest
from claudette import (
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    ClaudetteRequest,
    InvalidRequestError,
    RateLimitError,
    ResponseFormatError,
)
from claudette.testing import LoopbackServer, Reply

from claudette_backend_ollama import OllamaBackend, translate_error
from claudette_backend_ollama.testing import OllamaEmulator, OllamaFault
from conftest import MakeBackend, closed_port_url, fixture_bytes

REQUEST = ClaudetteRequest(prompt="hi")


async def _error_of(backend: OllamaBackend) -> BackendError:
    with pytest.raises(BackendError) as info:
        await backend.send(REQUEST)
    return info.value


async def test_unknown_model_is_not_retryable(make_backend: MakeBackend) -> None:
    error = await _error_of(make_backend(model="qwen9:404b"))
    assert isinstance(error, InvalidRequestError)
    assert (error.status_code, error.retryable, error.backend) == (404, False, "ollama")


async def test_unknown_model_suggests_ollama_pull(make_backend: MakeBackend) -> None:
    error = await _error_of(make_backend(model="qwen9:404b"))
    assert "model 'qwen9:404b' not found" in error.message
    assert "ollama pull qwen9:404b" in error.message
    assert error.error_type == "model_not_found"


async def test_recorded_404_body_is_understood(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(
        Reply(404, {"content-type": "application/json"}, fixture_bytes("ollama-error-404.json"))
    )
    error = await _error_of(make_backend(base_url=claudette_loopback_server.url))
    assert isinstance(error, InvalidRequestError)
    assert "ollama pull qwen9:404b" in error.message


async def test_400_is_an_invalid_request(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    emulator.script(OllamaFault.status_error(400, "invalid options: num_ctx"))
    error = await _error_of(make_backend())
    assert isinstance(error, InvalidRequestError)
    assert (error.status_code, error.retryable) == (400, False)
    assert "invalid options: num_ctx" in error.message


async def test_429_is_rate_limited_with_retry_after(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    emulator.script(OllamaFault.rate_limited(retry_after=2.5))
    error = await _error_of(make_backend())
    assert isinstance(error, RateLimitError)
    assert (error.status_code, error.retryable, error.retry_after) == (429, True, 2.5)
    assert "server busy" in error.message


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retryable(
    emulator: OllamaEmulator, make_backend: MakeBackend, status: int
) -> None:
    emulator.script(OllamaFault.status_error(status, f"runner trouble {status}"))
    error = await _error_of(make_backend("gpu-box"))
    assert isinstance(error, BackendUnavailableError)
    assert (error.status_code, error.retryable, error.backend) == (status, True, "gpu-box")
    assert f"runner trouble {status}" in error.message


async def test_error_line_on_a_plain_request_is_a_500(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    emulator.script(OllamaFault.error_line("unexpected EOF"))
    error = await _error_of(make_backend())
    assert (type(error), error.status_code) == (BackendUnavailableError, 500)


async def test_non_json_error_body_is_quoted(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(Reply.text("<html><h1>502 Bad Gateway</h1></html>", 502, "text/html"))
    error = await _error_of(make_backend(base_url=claudette_loopback_server.url))
    assert isinstance(error, BackendUnavailableError)
    assert error.status_code == 502
    assert "non-JSON body" in error.message
    assert "502 Bad Gateway" in error.message


async def test_empty_error_body_says_so(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(Reply(500))
    error = await _error_of(make_backend(base_url=claudette_loopback_server.url))
    assert "empty body" in error.message


async def test_wrong_path_404_hints_at_base_url(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(Reply.text("404 page not found", 404))
    error = await _error_of(make_backend(base_url=claudette_loopback_server.url + "/v1"))
    assert isinstance(error, InvalidRequestError)
    assert "without a /v1 suffix" in error.message


async def test_json_error_without_error_key_is_quoted(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(Reply.json({"detail": "nope"}, 500))
    error = await _error_of(make_backend(base_url=claudette_loopback_server.url))
    assert '"detail": "nope"' in error.message


async def test_truncated_json_body_is_a_format_error(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    emulator.script(OllamaFault.truncated_json())
    error = await _error_of(make_backend())
    assert isinstance(error, ResponseFormatError)
    assert (error.retryable, error.status_code) == (True, 200)
    assert "malformed JSON" in error.message


async def test_body_cut_by_closed_connection_is_retryable(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    emulator.script(OllamaFault.cut_body())
    error = await _error_of(make_backend())
    assert isinstance(error, BackendUnavailableError)
    assert error.retryable is True


async def test_html_with_status_200_is_a_format_error(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(Reply.text("<html>captive portal</html>", 200, "text/html"))
    error = await _error_of(make_backend(base_url=claudette_loopback_server.url))
    assert isinstance(error, ResponseFormatError)


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'"text"',
        b"null",
        b'{"message": "not an object"}',
        b'{"message": {"content": 5}, "done": true}',
    ],
)
async def test_wrong_shapes_are_format_errors(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend, body: bytes
) -> None:
    claudette_loopback_server.script(Reply(200, {"content-type": "application/json"}, body))
    error = await _error_of(make_backend(base_url=claudette_loopback_server.url))
    assert isinstance(error, ResponseFormatError)
    assert error.retryable is True


async def test_answer_not_marked_done_is_a_format_error(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    emulator.script(OllamaFault.stream_unfinished())
    error = await _error_of(make_backend())
    assert isinstance(error, ResponseFormatError)
    assert "done:true" in error.message


async def test_error_object_with_status_200_is_translated(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(Reply.json({"error": "model 'x:1b' not found"}))
    error = await _error_of(make_backend(base_url=claudette_loopback_server.url))
    assert isinstance(error, InvalidRequestError)
    assert "ollama pull x:1b" in error.message


async def test_connection_refused_says_ollama_is_not_running(make_backend: MakeBackend) -> None:
    url = closed_port_url()
    error = await _error_of(make_backend(base_url=url))
    assert isinstance(error, BackendUnavailableError)
    assert error.retryable is True
    assert f"cannot connect to Ollama at {url}" in error.message
    assert "is Ollama running" in error.message


async def test_connection_reset_is_retryable(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    emulator.script(OllamaFault.reset())
    error = await _error_of(make_backend())
    assert isinstance(error, BackendUnavailableError)
    assert error.retryable is True


async def test_silent_server_times_out(emulator: OllamaEmulator, make_backend: MakeBackend) -> None:
    emulator.script(OllamaFault.hang(10))
    started = time.monotonic()
    error = await _error_of(make_backend(timeout=0.3))
    assert isinstance(error, BackendTimeoutError)
    assert error.retryable is True
    # httpx's read timeout and the call's deadline are both 0.3 s: either may end it.
    assert "read timeout" in error.message or "no answer within 0.3s" in error.message
    assert time.monotonic() - started < 3.0


async def test_silent_stream_times_out(emulator: OllamaEmulator, make_backend: MakeBackend) -> None:
    emulator.script(OllamaFault.hang(10))
    with pytest.raises(BackendTimeoutError):
        _ = [c async for c in make_backend(timeout=0.3).stream(REQUEST)]


def test_mid_stream_error_without_text_still_has_a_message() -> None:
    error = translate_error("o", base_url="http://x:1", model="m", body="")
    assert isinstance(error, BackendUnavailableError)
    assert error.message == "Ollama reported an error after a 200 response: unknown error"


def test_openai_shaped_error_from_a_proxy_is_understood() -> None:
    error = translate_error(
        "o",
        base_url="http://x:1",
        model="m",
        status=401,
        body=b'{"error": {"message": "bad token"}}',
    )
    assert (error.status_code, error.retryable, error.message) == (401, False, "bad token")
