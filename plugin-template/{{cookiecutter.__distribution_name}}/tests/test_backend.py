"""The {{ cookiecutter.provider_name }} backend against a loopback server speaking its protocol."""

from __future__ import annotations

import time
from collections.abc import Callable

import attrs
import pytest
from claudette import (
    AuthenticationError,
    BackendRouter,
    BackendUnavailableError,
    BaseBackend,
    ClaudetteRequest,
    RateLimitError,
)
from claudette.http import DRAIN_TIMEOUT
{%- if cookiecutter.protocol == "openai-compatible" %}
from claudette.testing import Fault, LoopbackServer, faults
from claudette_backend_openai.testing import OpenAIEmulator
{%- else %}
from claudette.testing import Fault, LoopbackServer
{%- endif %}

import wire
from conftest import API_KEY

MakeBackend = Callable[..., BaseBackend]


async def test_send_returns_text_usage_and_cost(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(wire.success("Bonjour", tokens_input=12, tokens_output=3))
    backend = make_backend(input_cost_per_token=0.001, output_cost_per_token=0.002)

    response = await backend.send(ClaudetteRequest(prompt="Say hello in French"))

    assert response.content == "Bonjour"
    assert (response.tokens_input, response.tokens_output) == (12, 3)
    assert response.cost_eur == pytest.approx(12 * 0.001 + 3 * 0.002)
    assert response.finish_reason == "stop"
    assert response.metadata["request_id"] == "req-123"


async def test_send_posts_model_messages_and_key(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(wire.success("ok"))
    backend = make_backend(model="model-x")

    await backend.send(ClaudetteRequest(prompt="hi", messages=[{"role": "system", "content": "be brief"}]))

    sent = claudette_loopback_server.requests[-1]
    assert (sent.method, sent.path) == ("POST", wire.COMPLETION_PATH)
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    body = sent.json()
    assert body["model"] == "model-x"
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]


async def test_request_options_are_sent(claudette_loopback_server: LoopbackServer, make_backend: MakeBackend) -> None:
    claudette_loopback_server.script(wire.success("ok"))
    backend = make_backend()

    await backend.send(ClaudetteRequest(prompt="hi", options={"max_tokens": 7, "temperature": 0.2, "stop": ["\n"]}))

    body = claudette_loopback_server.requests[-1].json()
    assert (body["max_tokens"], body["temperature"], body["stop"]) == (7, 0.2, ["\n"])


async def test_stream_yields_pieces_then_the_whole_response(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(wire.stream(["Bon", "jour"], tokens_input=5, tokens_output=2))
    backend = make_backend()

    chunks = [c async for c in backend.stream(ClaudetteRequest(prompt="hi"))]

    assert [c.text for c in chunks] == ["Bon", "jour", ""]
    final = chunks[-1].response
    assert final is not None
    assert (final.content, final.tokens_input, final.tokens_output) == ("Bonjour", 5, 2)
    assert claudette_loopback_server.requests[-1].json()["stream"] is True


async def test_streams_read_their_body_to_the_end_so_one_connection_serves_them_all(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(*[wire.stream(["Bon", "jour"])] * 3)
    backend = make_backend()

    for _ in range(3):
        chunks = [c async for c in backend.stream(ClaudetteRequest(prompt="hi"))]
        assert "".join(c.text for c in chunks) == "Bonjour"

    assert claudette_loopback_server.connections == 1


async def test_a_body_held_open_after_the_last_event_costs_at_most_the_drain_window(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    complete = wire.stream(["Bon", "jour"])
    assert complete.chunks is not None
    # Every event is sent, then the server neither ends the body nor closes the connection.
    sent = len(complete.chunks)
    claudette_loopback_server.script(attrs.evolve(complete, chunks=[*complete.chunks, b"\n"], hang_after_chunks=sent))
    backend = make_backend(timeout=30.0)

    started = time.monotonic()
    chunks = [c async for c in backend.stream(ClaudetteRequest(prompt="hi"))]

    assert chunks[-1].response is not None
    assert chunks[-1].response.content == "Bonjour"
    assert DRAIN_TIMEOUT * 0.9 <= time.monotonic() - started < DRAIN_TIMEOUT + 3.0


async def test_rate_limit_keeps_retry_after(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(
        wire.error(429, "too many requests", type_="rate_limit_error", headers={"retry-after": "3"})
    )
    backend = make_backend()

    with pytest.raises(RateLimitError) as info:
        await backend.send(ClaudetteRequest(prompt="hi"))

    assert (info.value.retryable, info.value.retry_after) == (True, 3.0)
    assert info.value.error_type == "rate_limit_error"


async def test_overload_is_retryable_unavailability(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(wire.error(503, "overloaded"))
    backend = make_backend()

    with pytest.raises(BackendUnavailableError) as info:
        await backend.send(ClaudetteRequest(prompt="hi"))

    assert info.value.retryable is True
    assert "overloaded" in info.value.message


async def test_rejected_key_is_not_retryable_and_not_shown(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(wire.error(401, f"invalid key {API_KEY}", type_="invalid_request_error"))
    backend = make_backend()

    with pytest.raises(AuthenticationError) as info:
        await backend.send(ClaudetteRequest(prompt="hi"))

    assert info.value.retryable is False
    assert API_KEY not in str(info.value)


async def test_reset_connection_is_retryable(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(Fault.reset())
    backend = make_backend()

    with pytest.raises(BackendUnavailableError):
        await backend.send(ClaudetteRequest(prompt="hi"))


async def test_health_check_asks_the_free_endpoint(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(wire.health())
    backend = make_backend()

    assert await backend.health_check() is True
    assert [(r.method, r.path) for r in claudette_loopback_server.requests] == [("GET", wire.HEALTH_PATH)]
{%- if cookiecutter.protocol == "openai-compatible" %}


async def test_stream_asks_for_usage_only_when_streaming(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(wire.success("ok"), wire.stream(["ok"]))
    backend = make_backend()

    await backend.send(ClaudetteRequest(prompt="hi"))
    _ = [c async for c in backend.stream(ClaudetteRequest(prompt="hi"))]

    plain, streamed = (r.json() for r in claudette_loopback_server.requests)
    assert "stream_options" not in plain
    assert streamed["stream_options"] == {"include_usage": True}


async def test_exhausted_quota_is_not_retryable(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    from claudette import QuotaExceededError

    quota = wire.error(429, "You exceeded your quota", type_="insufficient_quota", code="insufficient_quota")
    claudette_loopback_server.script(quota)
    backend = make_backend()

    with pytest.raises(QuotaExceededError) as info:
        await backend.send(ClaudetteRequest(prompt="hi"))

    assert info.value.retryable is False


async def test_answers_the_openai_emulator_and_retries_past_a_cut_reply(make_backend: MakeBackend) -> None:
    with OpenAIEmulator(api_key=API_KEY) as emulator:
        backend = make_backend(base_url=emulator.base_url)
        emulator.script(faults.cut_after())  # the next reply breaks off half-way
        with pytest.raises(BackendUnavailableError) as info:
            await backend.send(ClaudetteRequest(prompt="hi there"))
        response = await backend.send(ClaudetteRequest(prompt="hi there"))

    assert info.value.retryable is True
    assert response.content == "Echo: hi there"
    assert [r.outcome for r in emulator.records] == ["cut_after", "ok"]
{%- endif %}


async def test_router_answers_with_this_backend(
    claudette_loopback_server: LoopbackServer,
    make_backend: MakeBackend,
    claudette_make_router: Callable[..., BackendRouter],
) -> None:
    claudette_loopback_server.script(wire.success("routed"))
    backend = make_backend()

    async with claudette_make_router(backend) as router:
        response = await router.route_request(ClaudetteRequest(prompt="hi"))

    assert (response.content, response.backend_used) == ("routed", backend.name)
