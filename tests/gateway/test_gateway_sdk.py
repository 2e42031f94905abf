"""The gateway through the official ``openai`` SDK: what any OpenAI client sees.

The gateway runs as ``claudette serve`` in a subprocess in front of two loopback provider
emulators speaking two protocols (OpenAI's and Anthropic's); the SDK must parse every
answer, stream and error as it would OpenAI's own.
"""

from __future__ import annotations

import openai
import pytest
from _gateway import CLIENT_KEY, claude_backend, openai_backend
from claudette_backend_claude.testing import AnthropicFault
from claudette_backend_openai.testing import ChatFault

HELLO = [{"role": "user", "content": "hello gateway friend"}]


def _claude_chats(emulator) -> int:
    return sum(1 for call in emulator.calls if call.path == "/v1/messages")


def _client(gateway, **kw) -> openai.OpenAI:
    kw.setdefault("api_key", "unused")
    return openai.OpenAI(base_url=gateway.base_url, max_retries=0, timeout=30.0, **kw)


def test_a_completion_parses_with_the_backend_and_cost_in_headers(gateway, openai_emulator):
    raw = _client(gateway).chat.completions.with_raw_response.create(model="auto", messages=HELLO)
    completion = raw.parse()
    assert completion.choices[0].message.content == "Echo: hello gateway friend"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "gpt-4o-mini"
    assert completion.object == "chat.completion"
    usage = completion.usage
    assert usage is not None and usage.completion_tokens == 4
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert raw.headers["x-claudette-backend"] == "openai"
    expected = usage.prompt_tokens * 1e-7 + usage.completion_tokens * 3e-7
    assert float(raw.headers["x-claudette-cost-eur"]) == pytest.approx(expected, rel=1e-6)
    # The same in the body, where the SDK keeps fields it does not know.
    assert completion.model_extra == {
        "claudette": {"backend": "openai", "cost_eur": float(raw.headers["x-claudette-cost-eur"])}
    }
    assert openai_emulator.chat_count == 1


async def test_the_async_client_gets_the_same_answer(gateway):
    async with openai.AsyncOpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0) as client:
        completion = await client.chat.completions.create(model="auto", messages=HELLO, max_tokens=50)
    assert completion.choices[0].message.content == "Echo: hello gateway friend"


def test_a_configured_backend_name_forces_that_backend(gateway, openai_emulator, claude_emulator):
    raw = _client(gateway).chat.completions.with_raw_response.create(model="claude", messages=HELLO)
    completion = raw.parse()
    assert raw.headers["x-claudette-backend"] == "claude"
    assert completion.choices[0].message.content == "Hello from Claude"
    assert completion.model.startswith("claude-sonnet-4-5")
    assert openai_emulator.chat_count == 0 and _claude_chats(claude_emulator) == 1


def test_a_stream_yields_the_text_then_the_usage_chunk(gateway):
    stream = _client(gateway).chat.completions.create(
        model="auto", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: hello gateway friend"
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 4
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1
    # Only the chunk with the finish reason carries claudette's object: backend and cost.
    extended = [c for c in chunks if c.model_extra]
    assert extended == [chunks[-2]] and chunks[-2].choices[0].finish_reason == "stop"
    usage = chunks[-1].usage
    expected = usage.prompt_tokens * 1e-7 + usage.completion_tokens * 3e-7
    claudette = chunks[-2].to_dict()["claudette"]
    assert claudette["backend"] == "openai"
    assert claudette["cost_eur"] == pytest.approx(expected, rel=1e-6)


def test_a_stream_without_include_usage_has_no_usage_chunk(gateway):
    chunks = list(_client(gateway).chat.completions.create(model="auto", messages=HELLO, stream=True))
    assert all(c.choices for c in chunks) and all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["claudette"]["backend"] == "openai"
    assert chunks[-1].model_extra["claudette"]["cost_eur"] > 0
    assert all(not c.model_extra for c in chunks[:-1])


async def test_the_async_client_streams(gateway):
    async with openai.AsyncOpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0) as client:
        stream = await client.chat.completions.create(model="claude", messages=HELLO, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Hello from Claude"


def test_the_model_list_has_auto_and_every_backend(gateway):
    names = [m.id for m in _client(gateway).models.list()]
    assert names == ["auto", "openai", "claude"]


def test_an_unknown_model_is_the_sdks_not_found_error(gateway):
    with pytest.raises(openai.NotFoundError) as caught:
        _client(gateway).chat.completions.create(model="gpt-5-nano", messages=HELLO)
    assert caught.value.status_code == 404
    assert caught.value.code == "model_not_found"
    assert caught.value.param == "model"


def test_an_invalid_parameter_is_a_bad_request_naming_it(gateway):
    with pytest.raises(openai.BadRequestError) as caught:
        _client(gateway).chat.completions.create(model="auto", messages=HELLO, temperature=7)
    assert caught.value.param == "temperature"
    with pytest.raises(openai.BadRequestError) as caught:
        _client(gateway).chat.completions.create(model="auto", messages=[])
    assert caught.value.param == "messages"


def test_a_fallback_is_invisible_but_for_the_headers(gateway, openai_emulator, claude_emulator):
    openai_emulator.script(ChatFault.server_error())
    raw = _client(gateway).chat.completions.with_raw_response.create(model="auto", messages=HELLO)
    assert raw.status_code == 200
    assert raw.parse().choices[0].message.content == "Hello from Claude"
    assert raw.headers["x-claudette-backend"] == "claude"
    assert openai_emulator.chat_count == 1 and _claude_chats(claude_emulator) == 1
    # The cost is the answering backend's, at its prices.
    usage = raw.parse().usage
    cost = float(raw.headers["x-claudette-cost-eur"])
    assert cost == pytest.approx(usage.prompt_tokens * 5e-5 + usage.completion_tokens * 1e-4, rel=1e-6)
    assert raw.parse().model_extra["claudette"] == {"backend": "claude", "cost_eur": cost}


def test_a_stream_falls_back_before_its_first_chunk(gateway, openai_emulator):
    openai_emulator.script(ChatFault.overloaded())
    stream = _client(gateway).chat.completions.with_raw_response.create(
        model="auto", messages=HELLO, stream=True
    )
    assert stream.headers["x-claudette-backend"] == "claude"
    text = "".join(c.choices[0].delta.content or "" for c in stream.parse() if c.choices)
    assert text == "Hello from Claude"


def test_a_streams_cost_after_a_fallback_is_the_answering_backends(gateway, openai_emulator):
    openai_emulator.script(ChatFault.overloaded())
    chunks = list(
        _client(gateway).chat.completions.create(
            model="auto", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )
    usage = chunks[-1].usage
    finish = chunks[-2]
    assert finish.choices[0].finish_reason == "stop"
    assert finish.model_extra["claudette"]["backend"] == "claude"
    expected = usage.prompt_tokens * 5e-5 + usage.completion_tokens * 1e-4
    assert finish.model_extra["claudette"]["cost_eur"] == pytest.approx(expected, rel=1e-6)


def test_a_stream_cut_after_its_first_chunk_raises_in_the_sdk(gateway, openai_emulator):
    openai_emulator.script(ChatFault.error_event(after_chunks=2))
    stream = _client(gateway).chat.completions.create(model="openai", messages=HELLO, stream=True)
    received: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received).startswith("Echo:")
    assert "openai" in caught.value.message


def test_no_backend_able_to_answer_is_a_503(start_gateway, openai_emulator, claude_emulator):
    gateway = start_gateway(
        {
            "backends.openai": openai_backend(openai_emulator.base_url),
            "backends.claude": claude_backend(claude_emulator.url),
        }
    )
    openai_emulator.fail_always(ChatFault.server_error())
    claude_emulator.fail_always(AnthropicFault.api_error())
    with pytest.raises(openai.InternalServerError) as caught:
        _client(gateway).chat.completions.create(model="auto", messages=HELLO)
    assert caught.value.status_code == 503
    assert caught.value.code == "no_backend_available"
    assert "openai" in caught.value.message and "claude" in caught.value.message


def test_every_backend_rate_limited_is_a_429_with_retry_after(start_gateway, openai_emulator, claude_emulator):
    gateway = start_gateway(
        {
            "backends.openai": openai_backend(openai_emulator.base_url),
            "backends.claude": claude_backend(claude_emulator.url),
        }
    )
    openai_emulator.fail_always(ChatFault.rate_limit(retry_after=20))
    claude_emulator.fail_always(AnthropicFault.rate_limit(retry_after=30))
    for _ in range(2):  # once by failing, once by the cool-downs alone
        with pytest.raises(openai.RateLimitError) as caught:
            _client(gateway).chat.completions.create(model="auto", messages=HELLO)
        assert caught.value.status_code == 429
        assert 1 <= int(caught.value.response.headers["retry-after"]) <= 20
    assert openai_emulator.chat_count == 1 and _claude_chats(claude_emulator) == 1


def test_keys_are_required_when_configured(start_gateway, openai_emulator):
    gateway = start_gateway(
        {
            "server": {"api_keys": ["cg-other-key-0000", CLIENT_KEY]},
            "backends.openai": openai_backend(openai_emulator.base_url),
        }
    )
    with pytest.raises(openai.AuthenticationError) as caught:
        _client(gateway, api_key="cg-wrong-key").chat.completions.create(model="auto", messages=HELLO)
    assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        _client(gateway, api_key="cg-wrong-key").models.list()
    completion = _client(gateway, api_key=CLIENT_KEY).chat.completions.create(model="auto", messages=HELLO)
    assert completion.choices[0].message.content == "Echo: hello gateway friend"
    assert openai_emulator.chat_count == 1
    assert CLIENT_KEY not in gateway.output() and "cg-wrong-key" not in gateway.output()
