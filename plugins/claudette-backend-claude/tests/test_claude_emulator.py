"""The Anthropic emulator itself: faithful bytes, API checks, faults and the call log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from claude_support import API_KEY, fixture_bytes

from claudette_backend_claude.testing import AnthropicEmulator, AnthropicFault
from claudette_backend_claude.testing.render import error_body

HEADERS = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}
BODY = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def recorded() -> Iterator[AnthropicEmulator]:
    """An emulator set up to say exactly what the recorded transcripts say."""
    with AnthropicEmulator(api_key=API_KEY, input_tokens=12, message_id="msg_01TestAbc") as api:
        yield api


def _post(api: AnthropicEmulator, body: Any = BODY, headers: dict[str, str] | None = None) -> httpx.Response:
    with httpx.Client(base_url=api.url) as client:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return client.post("/v1/messages", content=content, headers=HEADERS if headers is None else headers)


def test_stream_is_byte_for_byte_the_recorded_transcript(recorded: AnthropicEmulator) -> None:
    response = _post(recorded, {**BODY, "stream": True})
    assert response.headers["content-type"] == "text/event-stream"
    assert response.content == fixture_bytes("anthropic-message-stream.sse")


def test_message_equals_the_recorded_message(recorded: AnthropicEmulator) -> None:
    response = _post(recorded)
    assert response.status_code == 200
    assert response.json() == json.loads(fixture_bytes("anthropic-message.json"))
    assert response.headers["request-id"] == "req_emu_000001"


def test_wrong_key_is_401_authentication_error(emulator: AnthropicEmulator) -> None:
    response = _post(emulator, headers={**HEADERS, "x-api-key": "nope"})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    assert response.json()["request_id"] == response.headers["request-id"]


def test_missing_version_header_is_400(emulator: AnthropicEmulator) -> None:
    response = _post(emulator, headers={"x-api-key": API_KEY})
    assert response.status_code == 400
    assert "anthropic-version" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({k: v for k, v in BODY.items() if k != "max_tokens"}, "max_tokens: Field required"),
        ({**BODY, "messages": [{"role": "system", "content": "x"}]}, 'Unexpected role "system"'),
        ({**BODY, "temperature": 1.5}, "temperature"),
        ({**BODY, "stop_sequences": "END"}, "stop_sequences"),
        (b"{not json", "error parsing the body"),
    ],
    ids=["no-max-tokens", "system-role", "temperature", "stop-not-list", "not-json"],
)
def test_invalid_bodies_are_refused_like_the_api(emulator: AnthropicEmulator, body: Any, complaint: str) -> None:
    response = _post(emulator, body)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert complaint in response.json()["error"]["message"]


def test_models_lists_the_models(emulator: AnthropicEmulator) -> None:
    with httpx.Client(base_url=emulator.url) as client:
        data = client.get("/v1/models", headers=HEADERS).json()
    assert [m["id"] for m in data["data"]] == list(emulator.models)
    assert data["has_more"] is False


def test_unknown_path_is_404_not_found_error(emulator: AnthropicEmulator) -> None:
    with httpx.Client(base_url=emulator.url) as client:
        response = client.post("/v1/complete", json=BODY, headers=HEADERS)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


def test_queued_faults_apply_in_order_then_normal_answers(emulator: AnthropicEmulator) -> None:
    emulator.fail_next(AnthropicFault.overloaded(), AnthropicFault.rate_limit(retry_after=2))
    statuses = [_post(emulator).status_code for _ in range(3)]
    assert statuses == [529, 429, 200]
    assert [c.fault for c in emulator.calls] == ["error", "error", None]


def test_rate_limit_carries_retry_after(emulator: AnthropicEmulator) -> None:
    emulator.fail_next(AnthropicFault.rate_limit(retry_after=2.5))
    response = _post(emulator)
    assert response.headers["retry-after"] == "2.5"
    assert response.json()["error"]["type"] == "rate_limit_error"


def test_standing_fault_until_cleared(emulator: AnthropicEmulator) -> None:
    emulator.fail_always(AnthropicFault.api_error())
    assert [_post(emulator).status_code for _ in range(2)] == [500, 500]
    emulator.fail_always(None)
    assert _post(emulator).status_code == 200


def test_slow_fault_delays_a_normal_answer(emulator: AnthropicEmulator) -> None:
    emulator.fail_next(AnthropicFault.slow(0.3))
    response = _post(emulator)
    assert response.status_code == 200
    assert response.elapsed.total_seconds() >= 0.3


def test_log_counts_messages_and_reported_usage(emulator: AnthropicEmulator) -> None:
    emulator.fail_next(AnthropicFault.overloaded())
    _post(emulator)
    first = _post(emulator).json()["usage"]
    second = _post(emulator, {**BODY, "stream": True})
    assert second.status_code == 200
    assert emulator.message_requests == 3
    assert emulator.completed_messages == 2
    assert emulator.usage_reported == (2 * first["input_tokens"], 2 * first["output_tokens"])


def test_answers_are_deterministic(emulator: AnthropicEmulator) -> None:
    one, two = _post(emulator).json(), _post(emulator).json()
    assert one["content"] == two["content"]
    assert one["usage"] == two["usage"]


def test_reply_function_sees_the_request(emulator: AnthropicEmulator) -> None:
    emulator.reply = lambda body: f"you said {body['messages'][-1]['content']}"
    assert _post(emulator).json()["content"][0]["text"] == "you said hi"


def test_reset_forgets_faults_and_log(emulator: AnthropicEmulator) -> None:
    emulator.fail_always(AnthropicFault.overloaded())
    _post(emulator)
    emulator.reset()
    assert emulator.calls == []
    assert _post(emulator).status_code == 200


def test_error_body_equals_the_recorded_529() -> None:
    recorded = fixture_bytes("anthropic-error-529.json").strip()
    assert error_body("overloaded_error", "Overloaded", "req_011Test") == recorded
