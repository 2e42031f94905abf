"""Every failure becomes the right BackendError, with its facts, and never shows the key."""

from __future__ import annotations

import socket
import time

import pytest
from claude_support import API_KEY, assert_no_key, fixture_bytes
from claudette import (
    AuthenticationError,
    BackendError,
    BackendSettings,
    BackendTimeoutError,
    BackendUnavailableError,
    ClaudetteRequest,
    InvalidRequestError,
    QuotaExceededError,
    RateLimitError,
    ResponseFormatError,
)
from claudette.testing import LoopbackServer, Reply

from claudette_backend_claude import ClaudeBackend, translate_error
from claudette_backend_claude.testing import AnthropicEmulator, AnthropicFault


async def _failure(backend: ClaudeBackend) -> BackendError:
    with pytest.raises(BackendError) as info:
        await backend.send(ClaudetteRequest(prompt="hi"))
    assert_no_key(info.value)
    return info.value


@pytest.mark.parametrize(
    ("fault", "kind", "status", "retryable", "retry_after", "error_type"),
    [
        (AnthropicFault.rate_limit(retry_after=3), RateLimitError, 429, True, 3.0, "rate_limit_error"),
        (AnthropicFault.rate_limit(retry_after=None), RateLimitError, 429, True, None, "rate_limit_error"),
        (AnthropicFault.overloaded(), BackendUnavailableError, 529, True, None, "overloaded_error"),
        (AnthropicFault.api_error(), BackendUnavailableError, 500, True, None, "api_error"),
        (AnthropicFault.invalid_request(), InvalidRequestError, 400, False, None, "invalid_request_error"),
        (AnthropicFault.authentication(), AuthenticationError, 401, False, None, "authentication_error"),
        (AnthropicFault.permission(), AuthenticationError, 403, False, None, "permission_error"),
        (AnthropicFault.not_found(), InvalidRequestError, 404, False, None, "not_found_error"),
        (AnthropicFault.error(413, "request_too_large", "Request exceeds the maximum size"),
         InvalidRequestError, 413, False, None, "request_too_large"),
        (AnthropicFault.error(402, "billing_error", "Your credit balance is too low"),
         QuotaExceededError, 402, False, None, "billing_error"),
    ],
    ids=lambda v: v.kind if isinstance(v, AnthropicFault) else None,
)
async def test_api_error_replies_map_to_their_class(
    backend: ClaudeBackend,
    emulator: AnthropicEmulator,
    fault: AnthropicFault,
    kind: type[BackendError],
    status: int,
    retryable: bool,
    retry_after: float | None,
    error_type: str,
) -> None:
    emulator.fail_next(fault)
    error = await _failure(backend)
    assert type(error) is kind
    assert error.status_code == status
    assert error.retryable is retryable
    assert error.retry_after == retry_after
    assert error.error_type == error_type
    assert error.request_id == emulator.calls[-1].request_id
    assert error.backend == "claude"
    assert fault.message in error.message


async def test_x_should_retry_false_overrides_the_status(backend: ClaudeBackend, emulator: AnthropicEmulator) -> None:
    emulator.fail_next(AnthropicFault.error(529, "overloaded_error", "Overloaded", {"x-should-retry": "false"}))
    error = await _failure(backend)
    assert isinstance(error, BackendUnavailableError)
    assert error.retryable is False


async def test_wrong_key_is_an_authentication_error_without_the_key(emulator: AnthropicEmulator) -> None:
    wrong = "sk-ant-WRONG-KEY-abcdef123"
    backend = ClaudeBackend("claude", emulator.settings(api_key=wrong))
    try:
        error = await _failure(backend)
    finally:
        await backend.aclose()
    assert isinstance(error, AuthenticationError)
    assert error.error_type == "authentication_error"
    for shown in (str(error), repr(error)):
        assert wrong not in shown


async def test_key_echoed_by_the_provider_is_hidden(claudette_loopback_server: LoopbackServer) -> None:
    body = {"type": "error", "error": {"type": "authentication_error", "message": f"bad key {API_KEY}"}}
    claudette_loopback_server.script(Reply.json(body, status=401))
    backend = ClaudeBackend("claude", BackendSettings(base_url=claudette_loopback_server.url, api_key=API_KEY))
    try:
        error = await _failure(backend)
    finally:
        await backend.aclose()
    assert "bad key" in error.message


async def test_proxy_413_without_json_is_a_clear_invalid_request(
    backend: ClaudeBackend, emulator: AnthropicEmulator
) -> None:
    emulator.fail_next(AnthropicFault.proxy_413())
    error = await _failure(backend)
    assert isinstance(error, InvalidRequestError)
    assert error.status_code == 413
    assert error.retryable is False
    assert error.error_type is None
    assert "HTTP 413" in error.message
    assert "text/html" in error.message
    assert "Request Entity Too Large" in error.message


@pytest.mark.parametrize(
    ("status", "body", "content_type", "kind", "shown"),
    [
        (502, b"", "text/plain", BackendUnavailableError, "empty body"),
        (500, b'{"type":"error","error":{"type":"api_er', "application/json", BackendUnavailableError, "not an Anthropic error"),
        (401, b'{"error":"Unauthorized"}', "application/json", AuthenticationError, "Unauthorized"),
        (400, b'[1, 2]', "application/json", InvalidRequestError, "not an Anthropic error"),
        (503, b'{"type":"error","error":null}', "application/json", BackendUnavailableError, "HTTP 503"),
        (429, b'{"type":"error","error":{"type":7,"message":["x"]}}', "application/json", RateLimitError, "['x']"),
    ],
    ids=["empty", "truncated-json", "bare-string-error", "json-array", "null-error", "odd-types"],
)
async def test_error_bodies_of_any_shape_give_a_clear_error(
    claudette_loopback_server: LoopbackServer,
    status: int,
    body: bytes,
    content_type: str,
    kind: type[BackendError],
    shown: str,
) -> None:
    claudette_loopback_server.script(Reply(status, {"content-type": content_type, "request-id": "req_odd"}, body))
    backend = ClaudeBackend("claude", BackendSettings(base_url=claudette_loopback_server.url, api_key=API_KEY))
    try:
        error = await _failure(backend)
    finally:
        await backend.aclose()
    assert type(error) is kind
    assert error.status_code == status
    assert shown in error.message
    assert error.request_id == "req_odd"


async def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = ClaudeBackend("claude", BackendSettings(base_url=f"http://127.0.0.1:{port}", api_key=API_KEY))
    try:
        error = await _failure(backend)
    finally:
        await backend.aclose()
    assert isinstance(error, BackendUnavailableError)
    assert error.retryable is True
    assert error.status_code is None


async def test_connection_reset_is_unavailable(backend: ClaudeBackend, emulator: AnthropicEmulator) -> None:
    emulator.fail_next(AnthropicFault.reset())
    error = await _failure(backend)
    assert isinstance(error, BackendUnavailableError)
    assert error.retryable is True


async def test_silent_server_times_out_at_the_settings_timeout(emulator: AnthropicEmulator) -> None:
    emulator.fail_next(AnthropicFault.hang(10))
    backend = ClaudeBackend("claude", emulator.settings(timeout=0.3))
    started = time.monotonic()
    try:
        error = await _failure(backend)
    finally:
        await backend.aclose()
    assert isinstance(error, BackendTimeoutError)
    assert error.retryable is True
    assert time.monotonic() - started < 3.0


async def test_truncated_json_body_is_a_format_error(backend: ClaudeBackend, emulator: AnthropicEmulator) -> None:
    emulator.fail_next(AnthropicFault.truncated_json())
    error = await _failure(backend)
    assert isinstance(error, ResponseFormatError)
    assert error.retryable is True
    assert error.request_id == emulator.calls[-1].request_id


async def test_body_cut_by_the_connection_is_retryable(backend: ClaudeBackend, emulator: AnthropicEmulator) -> None:
    emulator.fail_next(AnthropicFault.cut_connection())
    error = await _failure(backend)
    assert isinstance(error, BackendUnavailableError)
    assert error.retryable is True
    assert error.request_id == emulator.calls[-1].request_id


@pytest.mark.parametrize(
    ("error_type", "kind", "status", "retryable"),
    [
        ("overloaded_error", BackendUnavailableError, 529, True),
        ("rate_limit_error", RateLimitError, 429, True),
        ("api_error", BackendUnavailableError, 500, True),
        ("invalid_request_error", InvalidRequestError, 400, False),
        ("authentication_error", AuthenticationError, 401, False),
        ("brand_new_error", BackendUnavailableError, 500, True),
    ],
)
def test_error_event_is_classified_by_its_type(
    error_type: str, kind: type[BackendError], status: int, retryable: bool
) -> None:
    payload = {"type": "error", "error": {"type": error_type, "message": "m"}}
    error = translate_error("claude", None, payload, {"request-id": "req_ev"})
    assert type(error) is kind
    assert (error.status_code, error.retryable, error.request_id) == (status, retryable, "req_ev")
    assert error.error_type == error_type


def test_request_id_in_the_body_beats_the_header() -> None:
    body = b'{"type":"error","error":{"type":"api_error","message":"m"},"request_id":"req_body"}'
    error = translate_error("claude", 500, body, {"request-id": "req_header"})
    assert error.request_id == "req_body"


def test_recorded_529_body_is_overloaded_with_its_request_id() -> None:
    error = translate_error("claude", 529, fixture_bytes("anthropic-error-529.json"), {})
    assert type(error) is BackendUnavailableError
    assert (error.error_type, error.request_id, error.message) == ("overloaded_error", "req_011Test", "Overloaded")
    assert error.retryable is True
