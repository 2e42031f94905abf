"""What ClaudeBackend sends: the Messages API request, field by field."""

from __future__ import annotations

import pytest
from claude_support import API_KEY
from claudette import BackendSettings, ClaudetteRequest, InvalidRequestError

from claudette_backend_claude import ClaudeBackend
from claudette_backend_claude.testing import AnthropicEmulator


async def _sent_body(backend: ClaudeBackend, emulator: AnthropicEmulator, request: ClaudetteRequest) -> dict:
    await backend.send(request)
    return emulator.calls[-1].body


async def test_posts_to_v1_messages(backend: ClaudeBackend, emulator: AnthropicEmulator) -> None:
    await backend.send(ClaudetteRequest(prompt="hi"))
    call = emulator.calls[-1]
    assert (call.method, call.path) == ("POST", "/v1/messages")


async def test_headers_carry_key_version_and_json(backend: ClaudeBackend, emulator: AnthropicEmulator) -> None:
    await backend.send(ClaudetteRequest(prompt="hi"))
    headers = emulator.calls[-1].headers
    assert headers["x-api-key"] == API_KEY
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["content-type"] == "application/json"
    assert "authorization" not in headers


async def test_system_messages_go_top_level_joined(backend: ClaudeBackend, emulator: AnthropicEmulator) -> None:
    request = ClaudetteRequest(
        prompt="What is 2+2?",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi."},
            {"role": "system", "content": "Answer in French."},
        ],
    )
    body = await _sent_body(backend, emulator, request)
    assert body["system"] == "You are terse.\n\nAnswer in French."
    assert body["messages"] == [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi."},
        {"role": "user", "content": "What is 2+2?"},
    ]


async def test_no_system_field_without_system_messages(backend: ClaudeBackend, emulator: AnthropicEmulator) -> None:
    body = await _sent_body(backend, emulator, ClaudetteRequest(prompt="hi"))
    assert "system" not in body


async def test_tool_messages_are_sent_as_user_text(backend: ClaudeBackend, emulator: AnthropicEmulator) -> None:
    request = ClaudetteRequest(messages=[{"role": "tool", "content": "42"}])
    body = await _sent_body(backend, emulator, request)
    assert body["messages"] == [{"role": "user", "content": "42"}]


async def test_max_tokens_defaults_to_1024(backend: ClaudeBackend, emulator: AnthropicEmulator) -> None:
    body = await _sent_body(backend, emulator, ClaudetteRequest(prompt="hi"))
    assert body["max_tokens"] == 1024


async def test_max_tokens_from_settings(emulator: AnthropicEmulator) -> None:
    backend = ClaudeBackend("claude", emulator.settings(max_tokens=77))
    try:
        body = await _sent_body(backend, emulator, ClaudetteRequest(prompt="hi"))
    finally:
        await backend.aclose()
    assert body["max_tokens"] == 77


async def test_max_tokens_from_request_beats_settings(emulator: AnthropicEmulator) -> None:
    backend = ClaudeBackend("claude", emulator.settings(max_tokens=77))
    try:
        request = ClaudetteRequest(prompt="hi", options={"max_tokens": 5})
        body = await _sent_body(backend, emulator, request)
    finally:
        await backend.aclose()
    assert body["max_tokens"] == 5


@pytest.mark.parametrize(("given", "sent"), [(1.7, 1.0), (2.0, 1.0), (0.3, 0.3), (0.0, 0.0)])
async def test_temperature_is_clamped_to_0_1(
    backend: ClaudeBackend, emulator: AnthropicEmulator, given: float, sent: float
) -> None:
    request = ClaudetteRequest(prompt="hi", options={"temperature": given})
    body = await _sent_body(backend, emulator, request)
    assert body["temperature"] == sent


async def test_temperature_from_settings_when_request_has_none(emulator: AnthropicEmulator) -> None:
    backend = ClaudeBackend("claude", emulator.settings(temperature=1.5))
    try:
        body = await _sent_body(backend, emulator, ClaudetteRequest(prompt="hi"))
    finally:
        await backend.aclose()
    assert body["temperature"] == 1.0


async def test_no_temperature_when_unset(backend: ClaudeBackend, emulator: AnthropicEmulator) -> None:
    body = await _sent_body(backend, emulator, ClaudetteRequest(prompt="hi"))
    assert "temperature" not in body


async def test_stop_becomes_stop_sequences(backend: ClaudeBackend, emulator: AnthropicEmulator) -> None:
    request = ClaudetteRequest(prompt="hi", options={"stop": ["\n\nHuman:", "END"]})
    body = await _sent_body(backend, emulator, request)
    assert body["stop_sequences"] == ["\n\nHuman:", "END"]


async def test_no_stop_sequences_when_none_given(backend: ClaudeBackend, emulator: AnthropicEmulator) -> None:
    body = await _sent_body(backend, emulator, ClaudetteRequest(prompt="hi"))
    assert "stop_sequences" not in body


async def test_model_from_settings_and_request_override(backend: ClaudeBackend, emulator: AnthropicEmulator) -> None:
    assert (await _sent_body(backend, emulator, ClaudetteRequest(prompt="hi")))["model"] == "claude-sonnet-4-5"
    request = ClaudetteRequest(prompt="hi", options={"model": "claude-haiku-4-5"})
    assert (await _sent_body(backend, emulator, request))["model"] == "claude-haiku-4-5"


async def test_send_asks_for_no_stream(backend: ClaudeBackend, emulator: AnthropicEmulator) -> None:
    body = await _sent_body(backend, emulator, ClaudetteRequest(prompt="hi"))
    assert body["stream"] is False


async def test_stream_asks_for_a_stream(backend: ClaudeBackend, emulator: AnthropicEmulator) -> None:
    _ = [c async for c in backend.stream(ClaudetteRequest(prompt="hi"))]
    assert emulator.calls[-1].body["stream"] is True


async def test_extra_top_k_and_beta_header_are_sent(emulator: AnthropicEmulator) -> None:
    settings = emulator.settings(extra={"top_k": 5, "anthropic_beta": ["a-2025", "b-2025"]})
    backend = ClaudeBackend("claude", settings)
    try:
        body = await _sent_body(backend, emulator, ClaudetteRequest(prompt="hi"))
    finally:
        await backend.aclose()
    assert body["top_k"] == 5
    assert emulator.calls[-1].headers["anthropic-beta"] == "a-2025,b-2025"


async def test_system_only_request_is_refused_before_sending(
    backend: ClaudeBackend, emulator: AnthropicEmulator
) -> None:
    request = ClaudetteRequest(messages=[{"role": "system", "content": "be nice"}])
    with pytest.raises(InvalidRequestError) as info:
        await backend.send(request)
    assert info.value.retryable is False
    assert emulator.calls == []


def test_default_base_url_is_anthropic() -> None:
    assert ClaudeBackend("claude", BackendSettings(api_key="k")).base_url == "https://api.anthropic.com"


def test_env_base_url_used_when_settings_have_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/")
    assert ClaudeBackend("claude", BackendSettings(api_key="k")).base_url == "http://127.0.0.1:9"


def test_settings_base_url_beats_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    settings = BackendSettings(api_key="k", base_url="http://127.0.0.1:8")
    assert ClaudeBackend("claude", settings).base_url == "http://127.0.0.1:8"


def test_trailing_v1_in_base_url_is_accepted() -> None:
    settings = BackendSettings(api_key="k", base_url="https://proxy.example/v1/")
    assert ClaudeBackend("claude", settings).base_url == "https://proxy.example"


async def test_env_base_url_reaches_the_emulator(
    emulator: AnthropicEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", emulator.url)
    backend = ClaudeBackend("claude", BackendSettings(api_key=API_KEY))
    try:
        response = await backend.send(ClaudetteRequest(prompt="hi"))
    finally:
        await backend.aclose()
    assert response.content == "Hello there"
