"""What OllamaBackend makes of a non-streamed ``/api/chat`` answer."""

from __future__ import annotations

import json

import pytest
from claudette import ClaudetteRequest
from claudette.testing import LoopbackServer, Reply

from claudette_backend_ollama.testing import OllamaEmulator
from conftest import MakeBackend, fixture_bytes


def _chat_json(**changes: object) -> Reply:
    """The recorded non-streamed answer with some fields changed (None removes one)."""
    data = json.loads(fixture_bytes("ollama-chat.json"))
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return Reply.json(data)


async def test_recorded_answer_gives_its_text(make_backend: MakeBackend) -> None:
    response = await make_backend().send(ClaudetteRequest(prompt="hi"))
    assert response.content == "Hello there"
    assert response.backend_used == "ollama"


async def test_usage_comes_from_eval_counts(make_backend: MakeBackend) -> None:
    response = await make_backend().send(ClaudetteRequest(prompt="hi"))
    assert (response.tokens_input, response.tokens_output) == (11, 2)
    assert "usage_estimated" not in response.metadata


async def test_cost_is_zero_by_default(make_backend: MakeBackend) -> None:
    response = await make_backend().send(ClaudetteRequest(prompt="hi"))
    assert response.cost_eur == 0.0


async def test_configured_prices_are_applied(make_backend: MakeBackend) -> None:
    backend = make_backend(input_cost_per_token=0.001, output_cost_per_token=0.01)
    response = await backend.send(ClaudetteRequest(prompt="hi"))
    assert response.cost_eur == pytest.approx(11 * 0.001 + 2 * 0.01)


async def test_finish_reason_is_done_reason(make_backend: MakeBackend) -> None:
    response = await make_backend().send(ClaudetteRequest(prompt="hi"))
    assert response.finish_reason == "stop"


async def test_length_limit_is_reported(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    emulator.reply = "one two three four five"
    response = await make_backend().send(ClaudetteRequest(prompt="hi", options={"max_tokens": 2}))
    assert (response.content, response.finish_reason, response.tokens_output) == (
        "one two",
        "length",
        2,
    )


async def test_model_is_the_one_ollama_reports(make_backend: MakeBackend) -> None:
    response = await make_backend().send(ClaudetteRequest(prompt="hi"))
    assert response.model == "qwen2.5:7b"


async def test_durations_are_reported_in_milliseconds(make_backend: MakeBackend) -> None:
    meta = (await make_backend().send(ClaudetteRequest(prompt="hi"))).metadata
    assert meta["total_duration_ms"] == pytest.approx(512.345678)
    assert meta["load_duration_ms"] == pytest.approx(12.345678)
    assert meta["prompt_eval_duration_ms"] == pytest.approx(45.678901)
    assert meta["eval_duration_ms"] == pytest.approx(34.56789)
    assert meta["tokens_per_second"] == pytest.approx(2 / 0.03456789)


async def test_latency_is_measured(make_backend: MakeBackend) -> None:
    response = await make_backend().send(ClaudetteRequest(prompt="hi"))
    assert 0.0 < response.latency_ms < 10_000.0


async def test_absent_prompt_count_means_zero(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(_chat_json(prompt_eval_count=None, prompt_eval_duration=None))
    response = await make_backend(base_url=claudette_loopback_server.url).send(ClaudetteRequest(prompt="hi"))
    assert (response.tokens_input, response.tokens_output) == (0, 2)
    assert "usage_estimated" not in response.metadata


async def test_absent_eval_count_means_zero(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(_chat_json(eval_count=None, eval_duration=None))
    response = await make_backend(base_url=claudette_loopback_server.url).send(ClaudetteRequest(prompt="hi"))
    assert (response.tokens_input, response.tokens_output) == (11, 0)
    assert "eval_duration_ms" not in response.metadata


async def test_zero_prompt_tokens_from_emulator_give_zero_input(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    emulator.prompt_tokens = 0  # the emulator then leaves prompt_eval_count out, as Ollama does
    response = await make_backend().send(ClaudetteRequest(prompt="hi"))
    assert response.tokens_input == 0
    assert "usage_estimated" not in response.metadata


async def test_malformed_count_is_estimated_not_fatal(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(_chat_json(eval_count="two"))
    response = await make_backend(base_url=claudette_loopback_server.url).send(ClaudetteRequest(prompt="hi"))
    assert response.content == "Hello there"
    assert response.tokens_output == 3  # estimated: 11 characters / 4, rounded up
    assert response.metadata["usage_estimated"] is True


async def test_missing_done_reason_leaves_finish_reason_unset(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(_chat_json(done_reason=None))
    response = await make_backend(base_url=claudette_loopback_server.url).send(ClaudetteRequest(prompt="hi"))
    assert response.finish_reason is None
