"""Every failure becomes the right claudette error, with its facts and without the key."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from claudette import ClaudetteRequest
from claudette.errors import (
    AuthenticationError,
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    InvalidRequestError,
    QuotaExceededError,
    RateLimitError,
    ResponseFormatError,
    StreamInterruptedError,
)
from claudette.testing import LoopbackServer, Reply

from claudette_backend_openai import OpenAIBackend, error_from_response
from claudette_backend_openai.testing import ChatFault, OpenAIEmulator

REQUEST = ClaudetteRequest(prompt="hi")


async def _send_error(backend: OpenAIBackend) -> BackendError:
    with pytest.raises(BackendError) as info:
        await backend.send(REQUEST)
    return info.value


async def _stream_error(backend: OpenAIBackend) -> tuple[BackendError, list[str]]:
    texts: list[str] = []
    with pytest.raises(BackendError) as info:
        async for chunk in backend.stream(REQUEST):
            texts.append(chunk.text)
    return info.value, texts


# -- status errors through the emulator ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "cls", "status", "retryable"),
    [
        (ChatFault.rate_limit(), RateLimitError, 429, True),
        (ChatFault.insufficient_quota(), QuotaExceededError, 429, False),
        (ChatFault.unauthorized(), AuthenticationError, 401, False),
        (ChatFault.not_found(), InvalidRequestError, 404, False),
        (ChatFault.server_error(), BackendUnavailableError, 500, True),
        (ChatFault.overloaded(), BackendUnavailableError, 503, True),
        (
            ChatFault.error(400, "bad", error_type="invalid_request_error"),
            InvalidRequestError,
            400,
            False,
        ),
        (ChatFault.error(409, "conflict"), BackendUnavailableError, 409, True),
    ],
    ids=["429", "quota", "401", "404", "500", "503", "400", "409"],
)
async def test_status_maps_to_error_class(
    emulator: OpenAIEmulator,
    backend: OpenAIBackend,
    fault: ChatFault,
    cls: type,
    status: int,
    retryable: bool,
) -> None:
    emulator.script(fault)
    error = await _send_error(backend)
    assert type(error) is cls
    assert (error.status_code, error.retryable, error.backend) == (status, retryable, "openai")


@pytest.mark.parametrize(
    ("fault", "cls"),
    [
        (ChatFault.rate_limit(), RateLimitError),
        (ChatFault.unauthorized(), AuthenticationError),
        (ChatFault.overloaded(), BackendUnavailableError),
    ],
    ids=["429", "401", "503"],
)
async def test_status_errors_are_the_same_when_streaming(
    emulator: OpenAIEmulator, backend: OpenAIBackend, fault: ChatFault, cls: type
) -> None:
    emulator.script(fault)
    error, texts = await _stream_error(backend)
    assert type(error) is cls
    assert texts == []


async def test_rate_limit_carries_retry_after(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    emulator.script(ChatFault.rate_limit(retry_after=7))
    error = await _send_error(backend)
    assert error.retry_after == 7.0


async def test_retry_after_ms_wins_over_retry_after(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    emulator.script(ChatFault.rate_limit(retry_after=7, retry_after_ms=250))
    error = await _send_error(backend)
    assert error.retry_after == 0.25


async def test_should_retry_header_overrides_the_status(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    emulator.script(ChatFault.error(400, "try again", headers={"x-should-retry": "true"}))
    error = await _send_error(backend)
    assert (type(error), error.retryable) == (InvalidRequestError, True)


async def test_error_keeps_the_request_id(emulator: OpenAIEmulator, backend: OpenAIBackend) -> None:
    emulator.script(ChatFault.server_error())
    error = await _send_error(backend)
    assert error.request_id == emulator.records[-1].request_id
    assert error.request_id in str(error)


async def test_error_message_is_the_providers(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    emulator.script(ChatFault.not_found("gpt-9"))
    error = await _send_error(backend)
    assert "The model `gpt-9` does not exist." in str(error)
    assert error.error_type == "invalid_request_error"


async def test_wrong_key_is_never_shown(
    emulator: OpenAIEmulator, make_backend: Callable[..., OpenAIBackend]
) -> None:
    secret = "sk-wrong-key-9876543210"
    backend = make_backend(emulator.base_url, api_key=secret)
    error = await _send_error(backend)
    assert isinstance(error, AuthenticationError)
    assert secret not in str(error) and secret not in repr(error)
    assert secret not in repr(backend) and secret not in repr(backend.settings)


# -- error body shapes ------------------------------------------------------------------------


def test_openai_error_body(transcript: Callable[[str], bytes]) -> None:
    error = error_from_response(
        "o", 401, transcript("openai-error-401.json"), {"x-request-id": "req_1"}
    )
    assert (type(error), error.error_type, error.request_id) == (
        AuthenticationError,
        "invalid_request_error",
        "req_1",
    )
    assert "Incorrect API key provided" in error.message


def test_openai_429_body(transcript: Callable[[str], bytes]) -> None:
    error = error_from_response("o", 429, transcript("openai-error-429.json"), {"retry-after": "1"})
    assert (type(error), error.retry_after) == (RateLimitError, 1.0)


def test_vllm_bare_string_error(transcript: Callable[[str], bytes]) -> None:
    error = error_from_response("q", 401, transcript("vllm-error-401.json"))
    assert (type(error), error.message) == (AuthenticationError, "Unauthorized")


def test_vllm_integer_code_error(transcript: Callable[[str], bytes]) -> None:
    error = error_from_response("q", 404, transcript("vllm-error-404.json"))
    assert type(error) is InvalidRequestError
    assert error.message == "The model `qwen-x` does not exist."
    assert error.error_type == "NotFoundError"


def test_vllm_legacy_flat_error() -> None:
    body = b'{"object":"error","message":"context too long","type":"BadRequestError","param":null,"code":400}'
    error = error_from_response("q", 400, body)
    assert (type(error), error.message, error.error_type) == (
        InvalidRequestError,
        "context too long",
        "BadRequestError",
    )


def test_dashscope_top_level_request_id() -> None:
    body = b'{"error":{"message":"Throttling","type":"Throttling","param":null,"code":"Throttling"},"request_id":"ds-42"}'
    error = error_from_response("q", 429, body)
    assert (type(error), error.request_id) == (RateLimitError, "ds-42")


def test_quota_code_from_body_is_not_retryable() -> None:
    body = b'{"error":{"message":"out of credit","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}'
    error = error_from_response("o", 429, body, {"x-should-retry": "true"})
    assert (type(error), error.retryable) == (QuotaExceededError, False)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html>Bad Gateway</html>",
        b"[1, 2]",
        b'"just a string"',
        b"null",
        b'{"error": null}',
        b'{"error": {"message": ["a"], "type": 5}}',
        b'{"detail": [{"loc": ["body"]}]}',
        b'{"error": 12}',
        b"\xff\xfe",
    ],
    ids=[
        "empty",
        "html",
        "list",
        "string",
        "null",
        "null-error",
        "odd-types",
        "detail",
        "int-error",
        "binary",
    ],
)
def test_odd_error_bodies_never_leak_python_errors(body: bytes) -> None:
    error = error_from_response("o", 502, body)
    assert type(error) is BackendUnavailableError
    assert error.status_code == 502
    assert "HTTP 502" in error.message or error.message


def test_message_quotes_a_non_json_body() -> None:
    error = error_from_response("o", 502, b"<html>Bad Gateway</html>")
    assert "Bad Gateway" in error.message


# -- transport failures --------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_connection_refused_is_unavailable(
    make_backend: Callable[..., OpenAIBackend],
) -> None:
    backend = make_backend(f"http://127.0.0.1:{_closed_port()}/v1")
    error = await _send_error(backend)
    assert (type(error), error.retryable, error.backend) == (
        BackendUnavailableError,
        True,
        "openai",
    )


async def test_connection_reset_is_unavailable(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    emulator.script(ChatFault.reset())
    error = await _send_error(backend)
    assert (type(error), error.retryable) == (BackendUnavailableError, True)


async def test_hang_is_a_timeout(
    emulator: OpenAIEmulator, make_backend: Callable[..., OpenAIBackend]
) -> None:
    backend = make_backend(emulator.base_url, timeout=0.3)
    emulator.script(ChatFault.hang(3))
    error = await _send_error(backend)
    assert (type(error), error.retryable) == (BackendTimeoutError, True)
    # httpx's read timeout and the call's deadline are both 0.3 s: either may end it.
    assert "read timeout" in error.message or "no answer within 0.3s" in error.message


async def test_slow_reply_within_the_timeout_succeeds(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    emulator.script(ChatFault.slow(0.2))
    response = await backend.send(REQUEST)
    assert response.content == "Echo: hi"
    assert response.latency_ms >= 200


async def test_truncated_json_is_a_format_error(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    emulator.script(ChatFault.truncated_json())
    error = await _send_error(backend)
    assert (type(error), error.retryable, error.backend) == (ResponseFormatError, True, "openai")
    assert error.request_id == emulator.records[-1].request_id


async def test_body_cut_mid_way_is_retryable(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    emulator.script(ChatFault.cut_body())
    error = await _send_error(backend)
    assert (type(error), error.retryable) == (BackendUnavailableError, True)


async def test_json_of_the_wrong_shape_is_a_format_error(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    emulator.script(ChatFault.bad_shape())
    error = await _send_error(backend)
    assert (type(error), error.retryable) == (ResponseFormatError, True)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"choices": []},
        {"choices": "x"},
        {"choices": [None]},
        {"choices": [{"message": None}]},
        {"choices": [{"message": {"content": 5}}]},
    ],
    ids=["empty", "no-choices", "str-choices", "none-choice", "none-message", "int-content"],
)
async def test_missing_keys_are_format_errors(
    claudette_loopback_server: LoopbackServer, make_backend: Callable[..., OpenAIBackend], data: dict
) -> None:
    claudette_loopback_server.script(Reply.json(data))
    error = await _send_error(make_backend(f"{claudette_loopback_server.url}/v1"))
    assert type(error) is ResponseFormatError


async def test_error_body_with_status_200_is_an_error(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    emulator.script(ChatFault.error_event())
    error = await _send_error(backend)
    assert (type(error), error.retryable) == (BackendUnavailableError, True)


# -- stream failures ---------------------------------------------------------------------------------


async def test_stream_cut_mid_way_raises_retryable_after_partial_text(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    emulator.script(ChatFault.stream_cut(after_chunks=2))
    error, texts = await _stream_error(backend)
    assert (type(error), error.retryable) == (BackendUnavailableError, True)
    assert texts == ["Echo:"]


async def test_error_event_after_200_raises(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    emulator.script(
        ChatFault.error_event(after_chunks=2, message="boom", error_type="server_error")
    )
    error, texts = await _stream_error(backend)
    assert (type(error), error.retryable) == (BackendUnavailableError, True)
    assert "boom" in error.message and error.request_id == emulator.records[-1].request_id
    assert texts == ["Echo:"]


async def test_rate_limit_error_event_is_a_rate_limit(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    emulator.script(ChatFault.error_event(after_chunks=1, error_type="rate_limit_error"))
    error, _ = await _stream_error(backend)
    assert type(error) is RateLimitError


async def test_stream_without_done_is_a_format_error(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    emulator.script(ChatFault.missing_done())
    error, texts = await _stream_error(backend)
    assert (type(error), error.retryable) == (ResponseFormatError, True)
    assert "[DONE]" in error.message
    assert "".join(texts) == "Echo: hi"


async def test_malformed_stream_event_is_a_format_error(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    emulator.script(ChatFault.truncated_json())
    error, _ = await _stream_error(backend)
    assert (type(error), error.backend) == (ResponseFormatError, "openai")


@pytest.mark.parametrize(
    "event", ["[1,2]", '"text"', "7", '{"choices":[5]}', '{"choices":[{"delta":"x"}]}']
)
async def test_odd_stream_events_never_leak_python_errors(
    claudette_loopback_server: LoopbackServer, make_backend: Callable[..., OpenAIBackend], event: str
) -> None:
    claudette_loopback_server.script(Reply.stream([f"data: {event}\n\n", "data: [DONE]\n\n"]))
    backend = make_backend(f"{claudette_loopback_server.url}/v1")
    with pytest.raises(BackendError) as caught:
        _ = [c async for c in backend.stream(REQUEST)]
    # Malformed, or (an ignored odd shape) no content and no finish reason: never a success.
    assert type(caught.value) in (ResponseFormatError, StreamInterruptedError)


async def test_stream_read_timeout(
    emulator: OpenAIEmulator, make_backend: Callable[..., OpenAIBackend]
) -> None:
    backend = make_backend(emulator.base_url, timeout=0.3)
    emulator.script(ChatFault.hang(3))
    error, _ = await _stream_error(backend)
    assert type(error) is BackendTimeoutError
