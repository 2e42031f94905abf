"""What the OpenAI backend sends: path, headers and body shape."""

from __future__ import annotations

from collections.abc import Callable

from claudette import ClaudetteRequest
from claudette.testing import LoopbackServer, Reply

from claudette_backend_openai import OpenAIBackend
from claudette_backend_openai.testing import OpenAIEmulator


def _last_chat_body(emulator: OpenAIEmulator) -> dict:
    return emulator.records[-1].body


async def test_posts_to_chat_completions_under_the_base_url(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    await backend.send(ClaudetteRequest(prompt="hi"))
    request = emulator.requests[-1]
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")


async def test_sends_bearer_key(
    emulator: OpenAIEmulator, backend: OpenAIBackend, api_key: str
) -> None:
    await backend.send(ClaudetteRequest(prompt="hi"))
    assert emulator.requests[-1].headers["authorization"] == f"Bearer {api_key}"


async def test_sends_organization_and_project_from_extra(
    emulator: OpenAIEmulator, make_backend: Callable[..., OpenAIBackend]
) -> None:
    backend = make_backend(emulator.base_url, extra={"organization": "org-1", "project": "proj-2"})
    await backend.send(ClaudetteRequest(prompt="hi"))
    headers = emulator.requests[-1].headers
    assert (headers["openai-organization"], headers["openai-project"]) == ("org-1", "proj-2")


async def test_no_organization_header_by_default(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    await backend.send(ClaudetteRequest(prompt="hi"))
    assert "openai-organization" not in emulator.requests[-1].headers


async def test_messages_include_system_then_prompt(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    request = ClaudetteRequest(
        prompt="And now?", messages=[{"role": "system", "content": "Be brief."}]
    )
    await backend.send(request)
    assert _last_chat_body(emulator)["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "And now?"},
    ]


async def test_openai_gets_max_completion_tokens(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    await backend.send(ClaudetteRequest(prompt="hi", options={"max_tokens": 7}))
    body = _last_chat_body(emulator)
    assert body["max_completion_tokens"] == 7
    assert "max_tokens" not in body


async def test_compatible_server_setting_sends_max_tokens(
    emulator: OpenAIEmulator, make_backend: Callable[..., OpenAIBackend]
) -> None:
    backend = make_backend(emulator.base_url, extra={"max_tokens_field": "max_tokens"})
    await backend.send(ClaudetteRequest(prompt="hi", options={"max_tokens": 7}))
    body = _last_chat_body(emulator)
    assert body["max_tokens"] == 7
    assert "max_completion_tokens" not in body


async def test_settings_max_tokens_used_when_request_sets_none(
    emulator: OpenAIEmulator, make_backend: Callable[..., OpenAIBackend]
) -> None:
    backend = make_backend(emulator.base_url, max_tokens=33)
    await backend.send(ClaudetteRequest(prompt="hi"))
    assert _last_chat_body(emulator)["max_completion_tokens"] == 33


async def test_no_token_budget_sent_when_none_configured(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    await backend.send(ClaudetteRequest(prompt="hi"))
    body = _last_chat_body(emulator)
    assert "max_completion_tokens" not in body and "max_tokens" not in body


async def test_model_temperature_and_stop_from_request_options(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    options = {"model": "gpt-4o", "temperature": 0.3, "stop": ["END"]}
    await backend.send(ClaudetteRequest(prompt="hi", options=options))
    body = _last_chat_body(emulator)
    assert (body["model"], body["temperature"], body["stop"]) == ("gpt-4o", 0.3, ["END"])


async def test_default_model_is_gpt_4o_mini(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    await backend.send(ClaudetteRequest(prompt="hi"))
    assert _last_chat_body(emulator)["model"] == "gpt-4o-mini"


async def test_non_streamed_request_has_no_stream_fields(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    await backend.send(ClaudetteRequest(prompt="hi"))
    body = _last_chat_body(emulator)
    assert "stream_options" not in body
    assert "stream" not in body


async def test_streamed_request_asks_for_usage(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    async for _ in backend.stream(ClaudetteRequest(prompt="hi")):
        pass
    body = _last_chat_body(emulator)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


async def test_stream_usage_can_be_switched_off(
    emulator: OpenAIEmulator, make_backend: Callable[..., OpenAIBackend]
) -> None:
    backend = make_backend(emulator.base_url, extra={"stream_usage": False})
    async for _ in backend.stream(ClaudetteRequest(prompt="hi")):
        pass
    assert "stream_options" not in _last_chat_body(emulator)


async def test_extra_body_is_merged_into_the_request(
    emulator: OpenAIEmulator, make_backend: Callable[..., OpenAIBackend]
) -> None:
    backend = make_backend(emulator.base_url, extra={"extra_body": {"seed": 42}})
    await backend.send(ClaudetteRequest(prompt="hi"))
    assert _last_chat_body(emulator)["seed"] == 42


async def test_no_authorization_header_without_a_key(
    claudette_loopback_server: LoopbackServer,
    make_backend: Callable[..., OpenAIBackend],
    transcript: Callable[[str], bytes],
) -> None:
    claudette_loopback_server.script(
        Reply(200, {"content-type": "application/json"}, transcript("openai-chat.json"))
    )
    backend = make_backend(f"{claudette_loopback_server.url}/v1", api_key=None, api_key_env=None)
    await backend.send(ClaudetteRequest(prompt="hi"))
    assert "authorization" not in claudette_loopback_server.requests[-1].headers
