"""The gateway's translation between OpenAI Chat Completions and claudette, without a server."""

from __future__ import annotations

import json

import pytest
from claudette.errors import (
    BackendTimeoutError,
    BackendUnavailableError,
    BudgetExceededError,
    InvalidRequestError,
    NoBackendAvailableError,
    RateLimitError,
)
from claudette.gateway.errors import GatewayError, error_for
from claudette.gateway.options import ServerOptions, is_loopback
from claudette.gateway.translate import ChunkWriter, completion_body, parse_chat_request
from claudette.types import ClaudetteResponse, ImagePart, TextPart

BACKENDS = ("openai", "claude")


def _parse(**body):
    body.setdefault("model", "auto")
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return parse_chat_request(body, BACKENDS)


def test_auto_lets_the_router_choose_and_a_backend_name_forces_it():
    assert _parse().request.backend is None
    assert _parse(model="claude").request.backend == "claude"


def test_the_generation_options_are_carried_over():
    call = _parse(max_completion_tokens=20, temperature=0.5, stop="END")
    assert call.request.options.max_tokens == 20
    assert call.request.options.temperature == 0.5
    assert call.request.options.stop == ("END",)
    assert _parse(max_tokens=7, stop=["a", "b"]).request.options.stop == ("a", "b")


def test_developer_messages_are_system_messages_and_parts_are_kept():
    call = _parse(
        messages=[
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "https://example.org/a.png"}}]},
        ]
    )
    system, user = call.request.messages
    assert (system.role, system.content) == ("system", "be brief")
    assert user.content == (TextPart("a"), ImagePart(url="https://example.org/a.png"))


def test_stream_options_set_the_usage_chunk():
    assert _parse(stream=True, stream_options={"include_usage": True}).include_usage
    assert not _parse(stream=True).include_usage


def test_an_unknown_model_is_a_404_model_not_found():
    with pytest.raises(GatewayError) as caught:
        _parse(model="gpt-9")
    assert caught.value.status == 404
    assert caught.value.body()["error"]["code"] == "model_not_found"
    assert caught.value.body()["error"]["param"] == "model"


def test_a_bad_image_part_is_refused_naming_its_message():
    with pytest.raises(GatewayError) as caught:
        _parse(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}])
    assert caught.value.status == 400 and caught.value.param == "messages[0]"
    assert "image url" in caught.value.message


def test_only_whitespace_messages_are_a_400():
    with pytest.raises(GatewayError) as caught:
        _parse(messages=[{"role": "user", "content": "  "}])
    assert caught.value.status == 400 and caught.value.param == "messages"


def test_a_completion_body_has_openais_fields():
    response = ClaudetteResponse(
        "hello", "openai", model="gpt-4o-mini-2024", tokens_input=3, tokens_output=2, finish_reason="length"
    )
    body = completion_body(response, "chatcmpl-1", 1700000000)
    assert body["model"] == "gpt-4o-mini-2024"
    assert body["choices"][0]["message"]["content"] == "hello"
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": 2,
        "total_tokens": 5,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _events(data: bytes) -> list[str]:
    return [line[6:] for line in data.decode().split("\n\n") if line.startswith("data: ")]


def test_the_final_chunks_end_with_usage_and_done():
    writer = ChunkWriter("gpt-4o-mini", include_usage=True)
    response = ClaudetteResponse("hi", "openai", model="gpt-4o-mini-2024", tokens_input=1, tokens_output=1)
    events = _events(writer.first("") + writer.text("hi") + writer.final(response))
    assert events[-1] == "[DONE]"
    usage = json.loads(events[-2])
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] == 2
    assert usage["model"] == "gpt-4o-mini-2024"
    assert json.loads(events[-3])["choices"][0]["finish_reason"] == "stop"
    assert json.loads(events[0])["choices"][0]["delta"] == {"role": "assistant", "content": ""}


@pytest.mark.parametrize("include_usage", [True, False])
def test_the_finishing_chunk_alone_carries_the_backend_and_cost(include_usage):
    writer = ChunkWriter("gpt-4o-mini", include_usage=include_usage)
    response = ClaudetteResponse("hi", "claude", tokens_input=1, tokens_output=1, cost_eur=1.2345678901234e-05)
    chunks = [json.loads(e) for e in _events(writer.first("") + writer.text("hi") + writer.final(response))[:-1]]
    extended = [c for c in chunks if "claudette" in c]
    assert len(extended) == 1 and extended[0]["choices"][0]["finish_reason"] == "stop"
    # The number the x-claudette-cost-eur header writes.
    assert extended[0]["claudette"] == {"backend": "claude", "cost_eur": 0.0000123457}
    assert ("usage" in chunks[-1]) is include_usage


def test_a_completion_body_carries_the_backend_and_cost():
    response = ClaudetteResponse("hello", "openai", cost_eur=3e-7)
    body = completion_body(response, "chatcmpl-1", 1700000000)
    assert body["claudette"] == {"backend": "openai", "cost_eur": 3e-7}


@pytest.mark.parametrize(
    ("error", "status", "retry_after"),
    [
        (RateLimitError("slow down", "openai", retry_after=2.5), 429, "3"),
        (InvalidRequestError("bad", "openai", status_code=400), 400, None),
        (BackendTimeoutError("late", "openai"), 504, None),
        (BackendUnavailableError("down", "openai", status_code=503), 503, None),
        (NoBackendAvailableError("none", {"a": "circuit breaker open (3s until a probe)"}), 503, None),
        (
            NoBackendAvailableError(
                "none", {"a": "rate limited for 4.2s more", "b": "too many (backend 'b', HTTP 429, retryable, retry after 9s)"}
            ),
            429,
            "5",
        ),
        (NoBackendAvailableError("none", {"a": "rate limited for 4.2s more", "b": "disabled"}), 503, None),
        (BudgetExceededError("cap reached", {}), 429, None),
    ],
)
def test_claudettes_errors_map_to_the_statuses_openais_sdks_expect(error, status, retry_after):
    mapped = error_for(error)
    assert mapped.status == status
    assert dict(mapped.headers()).get(b"retry-after") == (retry_after.encode() if retry_after else None)
    assert set(mapped.body()["error"]) == {"message", "type", "param", "code"}


def test_server_options_hide_their_keys_and_check_their_values():
    options = ServerOptions(api_keys=["cg-secret-key-123456"])
    assert "cg-secret-key-123456" not in repr(options)
    with pytest.raises(ValueError, match="workers"):
        ServerOptions(workers=0)
    with pytest.raises(ValueError, match="port"):
        ServerOptions(port=70000)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.3.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("0.0.0.0", False), ("::", False), ("10.1.2.3", False), ("example.org", False)],
)
def test_loopback_addresses_are_recognised(host, loopback):
    assert is_loopback(host) is loopback


def test_usage_carries_the_cached_and_reasoning_counts() -> None:
    from claudette import ClaudetteResponse
    from claudette.gateway.translate import usage_body

    response = ClaudetteResponse(
        "x", "b", "m", 2006, 300, 0.1, tokens_cached_input=1920, tokens_reasoning=256
    )
    usage = usage_body(response)
    assert usage["prompt_tokens_details"] == {"cached_tokens": 1920}
    assert usage["completion_tokens_details"] == {"reasoning_tokens": 256}
    assert usage["total_tokens"] == 2306
