"""The emulator speaks like the recorded transcripts and logs what it reported."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from claudette_backend_openai.testing import ChatFault, OpenAIEmulator

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def _hello(_messages: object) -> str:
    return "Hello there"


def test_stream_is_byte_for_byte_the_recorded_transcript(
    transcript: Callable[[str], bytes],
) -> None:
    with OpenAIEmulator(responder=_hello, prompt_tokens=9, response_id="chatcmpl-test001") as emu:
        body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
        reply = httpx.post(f"{emu.base_url}/chat/completions", json=body)
    assert reply.headers["content-type"] == "text/event-stream"
    assert reply.content == transcript("openai-chat-stream.sse")


def test_completion_matches_the_recorded_transcript(transcript: Callable[[str], bytes]) -> None:
    with OpenAIEmulator(
        responder=_hello,
        prompt_tokens=9,
        response_id="chatcmpl-test001",
        response_model="gpt-4o-mini-2024-07-18",
    ) as emu:
        reply = httpx.post(f"{emu.base_url}/chat/completions", json=CHAT)
    assert reply.json() == json.loads(transcript("openai-chat.json"))


def test_vllm_completion_has_the_recorded_shape(transcript: Callable[[str], bytes]) -> None:
    with OpenAIEmulator(flavour="vllm", responder=_hello) as emu:
        data = httpx.post(f"{emu.base_url}/chat/completions", json=CHAT).json()
    recorded = json.loads(transcript("vllm-chat.json"))
    assert data["choices"][0]["message"].keys() == recorded["choices"][0]["message"].keys()
    assert "stop_reason" in data["choices"][0]


def test_stream_without_include_usage_has_no_usage_chunk() -> None:
    with OpenAIEmulator() as emu:
        text = httpx.post(f"{emu.base_url}/chat/completions", json={**CHAT, "stream": True}).text
    assert '"usage"' not in text
    assert text.endswith("data: [DONE]\n\n")


def test_llamacpp_streams_never_carry_usage() -> None:
    with OpenAIEmulator(flavour="llamacpp") as emu:
        body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
        text = httpx.post(f"{emu.base_url}/chat/completions", json=body).text
        record = emu.records[-1]
    assert '"usage"' not in text
    assert record.usage_reported is False and record.succeeded


def test_vllm_refuses_stream_options_without_stream() -> None:
    with OpenAIEmulator(flavour="vllm") as emu:
        reply = httpx.post(
            f"{emu.base_url}/chat/completions",
            json={**CHAT, "stream_options": {"include_usage": True}},
        )
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == 400


@pytest.mark.parametrize(
    ("flavour", "body"),
    [
        (
            "openai",
            {
                "error": {
                    "message": "Incorrect API key provided: sk-test****.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_api_key",
                }
            },
        ),
        ("vllm", {"error": "Unauthorized"}),
        ("vllm-legacy", {"error": "Unauthorized"}),
    ],
)
def test_unauthorized_bodies_per_flavour(flavour: str, body: dict) -> None:
    with OpenAIEmulator(flavour=flavour, api_key="sk-right-123456") as emu:
        reply = httpx.post(
            f"{emu.base_url}/chat/completions", json=CHAT, headers={"authorization": "Bearer nope"}
        )
    assert (reply.status_code, reply.json()) == (401, body)


def test_vllm_legacy_errors_are_flat() -> None:
    with OpenAIEmulator(flavour="vllm-legacy") as emu:
        emu.script(ChatFault.not_found("x"))
        data = httpx.post(f"{emu.base_url}/chat/completions", json=CHAT).json()
    assert (data["object"], data["code"]) == ("error", 404)


def test_dashscope_errors_carry_a_request_id() -> None:
    with OpenAIEmulator(flavour="dashscope") as emu:
        emu.script(ChatFault.server_error())
        reply = httpx.post(f"{emu.base_url}/chat/completions", json=CHAT)
    assert reply.json()["request_id"] == reply.headers["x-request-id"]


def test_vllm_health_follows_the_healthy_flag() -> None:
    with OpenAIEmulator(flavour="vllm") as emu:
        up = httpx.get(f"{emu.url}/health").status_code
        emu.healthy = False
        down = httpx.get(f"{emu.url}/health").status_code
    assert (up, down) == (200, 503)


def test_openai_flavour_has_no_health_endpoint() -> None:
    with OpenAIEmulator() as emu:
        assert httpx.get(f"{emu.url}/health").status_code == 404


def test_models_lists_the_configured_models() -> None:
    with OpenAIEmulator(models=("a", "b")) as emu:
        data = httpx.get(f"{emu.base_url}/models").json()
    assert [m["id"] for m in data["data"]] == ["a", "b"]


def test_strict_models_refuses_an_unknown_model() -> None:
    with OpenAIEmulator(strict_models=True) as emu:
        reply = httpx.post(f"{emu.base_url}/chat/completions", json={**CHAT, "model": "nope"})
    assert reply.status_code == 404


def test_rate_limit_fault_sends_retry_headers() -> None:
    with OpenAIEmulator() as emu:
        emu.script(ChatFault.rate_limit(retry_after=2, retry_after_ms=1500))
        reply = httpx.post(f"{emu.base_url}/chat/completions", json=CHAT)
    assert (reply.status_code, reply.headers["retry-after"], reply.headers["retry-after-ms"]) == (
        429,
        "2",
        "1500",
    )


def test_scripted_faults_apply_in_order_then_normal_replies() -> None:
    with OpenAIEmulator() as emu:
        emu.script(ChatFault.server_error(), None, ChatFault.overloaded())
        statuses = [
            httpx.post(f"{emu.base_url}/chat/completions", json=CHAT).status_code for _ in range(4)
        ]
    assert statuses == [500, 200, 503, 200]


def test_fail_always_until_cleared() -> None:
    with OpenAIEmulator() as emu:
        emu.fail_always(ChatFault.overloaded())
        first = httpx.post(f"{emu.base_url}/chat/completions", json=CHAT).status_code
        emu.fail_always(None)
        second = httpx.post(f"{emu.base_url}/chat/completions", json=CHAT).status_code
    assert (first, second) == (503, 200)


def test_faults_do_not_hit_health_checks() -> None:
    with OpenAIEmulator() as emu:
        emu.script(ChatFault.server_error())
        models = httpx.get(f"{emu.base_url}/models").status_code
        chat = httpx.post(f"{emu.base_url}/chat/completions", json=CHAT).status_code
    assert (models, chat) == (200, 500)


def test_log_reconciles_requests_and_reported_tokens() -> None:
    with OpenAIEmulator(prompt_tokens=5) as emu:
        emu.script(ChatFault.server_error())
        for _ in range(3):
            httpx.post(f"{emu.base_url}/chat/completions", json=CHAT)
        records = emu.records
    assert (emu.chat_count, emu.success_count) == (3, 2)
    assert [r.outcome for r in records] == ["status", "ok", "ok"]
    assert (emu.prompt_tokens_reported, emu.completion_tokens_reported) == (10, 4)


def test_max_tokens_truncates_deterministically() -> None:
    with OpenAIEmulator() as emu:
        data = httpx.post(f"{emu.base_url}/chat/completions", json={**CHAT, "max_tokens": 1}).json()
    assert (data["choices"][0]["message"]["content"], data["choices"][0]["finish_reason"]) == (
        "Echo:",
        "length",
    )


def test_invalid_body_is_a_400() -> None:
    with OpenAIEmulator() as emu:
        reply = httpx.post(f"{emu.base_url}/chat/completions", content=b"{not json")
        outcome = emu.records[-1].outcome
    assert (reply.status_code, outcome) == (400, "bad_request")


def test_reset_clears_faults_and_log() -> None:
    with OpenAIEmulator() as emu:
        emu.fail_always(ChatFault.overloaded())
        httpx.post(f"{emu.base_url}/chat/completions", json=CHAT)
        emu.reset()
        status = httpx.post(f"{emu.base_url}/chat/completions", json=CHAT).status_code
    assert (status, emu.chat_count) == (200, 1)


def test_unknown_flavour_is_refused() -> None:
    with pytest.raises(ValueError, match="flavour"):
        OpenAIEmulator(flavour="nope")


def test_missing_done_only_affects_streams() -> None:
    with OpenAIEmulator() as emu:
        emu.script(ChatFault.missing_done())
        reply = httpx.post(f"{emu.base_url}/chat/completions", json=CHAT)
        record = emu.records[-1]
    assert reply.status_code == 200
    assert (record.outcome, record.succeeded, record.usage_reported) == ("ok", True, True)
