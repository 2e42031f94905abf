"""The spans of routed requests, checked through the OpenTelemetry SDK's in-memory exporter."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from claudette import BreakerPolicy, ClaudettePlugins, ClaudetteRequest
from claudette.testing.ordering import BreakAfter
from claudette_backend_ollama.testing import OllamaEmulator, OllamaFault
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from claudette_otel import ClaudetteTracing
from conftest import SECRET, MakeRouter, spans_by_name

REQUEST_SPAN = "claudette chat"
ATTEMPT_SPAN = "chat qwen2.5:7b"


async def test_a_request_that_falls_back_once_has_two_attempt_spans(
    make_router: MakeRouter, first: OllamaEmulator, exporter: InMemorySpanExporter
) -> None:
    first.fail_always(OllamaFault.status_error(500))
    router = make_router()

    response = await router.route_request(ClaudetteRequest(prompt="hi", options={"max_tokens": 50}))

    spans = spans_by_name(exporter)
    (request,) = spans[REQUEST_SPAN]
    failed, answered = spans[ATTEMPT_SPAN]
    assert {failed.parent.span_id, answered.parent.span_id} == {request.context.span_id}
    assert failed.context.trace_id == answered.context.trace_id == request.context.trace_id
    assert request.kind is SpanKind.INTERNAL and failed.kind is answered.kind is SpanKind.CLIENT

    assert failed.status.status_code is StatusCode.ERROR
    assert "HTTP 500" in (failed.status.description or "")
    assert dict(failed.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "ollama",
        "gen_ai.system": "ollama",
        "gen_ai.request.model": "qwen2.5:7b",
        "gen_ai.request.max_tokens": 50,
        "claudette.backend": "a",
        "claudette.attempt": 1,
        "claudette.breaker_state": "closed",
        "error.type": "BackendUnavailableError",
        "claudette.error.retryable": True,
        "http.response.status_code": 500,
    }

    assert answered.status.status_code is StatusCode.UNSET
    attributes = dict(answered.attributes or {})
    reason = attributes.pop("claudette.fallback_reason")
    assert "HTTP 500" in reason
    assert attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "ollama",
        "gen_ai.system": "ollama",
        "gen_ai.request.model": "qwen2.5:7b",
        "gen_ai.request.max_tokens": 50,
        "gen_ai.response.model": "qwen2.5:7b",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 7,
        "gen_ai.usage.output_tokens": 4,
        "claudette.backend": "b",
        "claudette.attempt": 2,
        "claudette.fallback_from": "a",
        "claudette.breaker_state": "closed",
        "claudette.cost_eur": pytest.approx(11e-6),
    }

    assert request.status.status_code is StatusCode.UNSET
    top = dict(request.attributes or {})
    assert top["claudette.backend"] == response.backend_used == "b"
    assert top["claudette.attempts"] == 2
    assert top["claudette.failed_backends"] == ("a",)
    assert top["claudette.outcome"] == "success"
    assert top["claudette.cost_eur"] == pytest.approx(response.cost_eur)
    assert (top["gen_ai.usage.input_tokens"], top["gen_ai.usage.output_tokens"]) == (7, 4)
    assert len(top["claudette.request_id"]) == 32
    # The attempts lie within the request, one after the other.
    assert request.start_time <= failed.start_time <= failed.end_time <= answered.start_time
    assert answered.end_time <= request.end_time


async def test_a_failed_request_has_error_status_on_every_span(
    make_router: MakeRouter, first: OllamaEmulator, second: OllamaEmulator,
    exporter: InMemorySpanExporter,
) -> None:
    first.fail_always(OllamaFault.status_error(500))
    second.fail_always(OllamaFault.status_error(503))
    router = make_router()

    with pytest.raises(Exception, match="no usable backend left"):
        await router.route_request(ClaudetteRequest(prompt="hi"))

    spans = spans_by_name(exporter)
    (request,) = spans[REQUEST_SPAN]
    assert [s.status.status_code for s in spans[ATTEMPT_SPAN]] == [StatusCode.ERROR] * 2
    assert request.status.status_code is StatusCode.ERROR
    assert request.attributes["error.type"] == "NoBackendAvailableError"
    assert request.attributes["claudette.failed_backends"] == ("a", "b")
    assert request.attributes["claudette.outcome"] == "error"


async def test_the_request_span_is_a_child_of_the_callers_span(
    make_router: MakeRouter, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router = make_router()
    with provider.get_tracer("app").start_as_current_span("handle order") as app:
        await router.route_request(ClaudetteRequest(prompt="hi"))

    (request,) = spans_by_name(exporter)[REQUEST_SPAN]
    assert request.parent is not None and request.parent.span_id == app.get_span_context().span_id


async def test_a_streamed_request_span_ends_when_the_stream_ends(
    make_router: MakeRouter, first: OllamaEmulator, exporter: InMemorySpanExporter
) -> None:
    first.fail_always(OllamaFault.status_error(500))
    router = make_router()
    texts = []
    ended_before_last_chunk = None

    async for chunk in router.stream(ClaudetteRequest(prompt="hi")):
        if chunk.response is None:
            texts.append(chunk.text)
            ended_before_last_chunk = REQUEST_SPAN in spans_by_name(exporter)

    assert "".join(texts) == "From the second one"
    assert ended_before_last_chunk is False
    spans = spans_by_name(exporter)
    (request,) = spans[REQUEST_SPAN]
    assert [s.attributes["claudette.backend"] for s in spans[ATTEMPT_SPAN]] == ["a", "b"]
    assert request.attributes["claudette.stream"] is True
    assert request.attributes["claudette.outcome"] == "success"
    assert request.attributes["gen_ai.usage.output_tokens"] == 4
    assert 0 < request.attributes["claudette.time_to_first_chunk_ms"]
    assert request.end_time >= spans[ATTEMPT_SPAN][-1].end_time


async def test_a_stream_the_reader_leaves_ends_its_span_as_cancelled(
    make_router: MakeRouter, second: OllamaEmulator, exporter: InMemorySpanExporter
) -> None:
    router = make_router()
    stream = router.stream(ClaudetteRequest(prompt="hi", backend="b"))

    first_chunk = await anext(stream)
    assert REQUEST_SPAN not in spans_by_name(exporter)
    await stream.aclose()

    assert first_chunk.text
    (request,) = spans_by_name(exporter)[REQUEST_SPAN]
    assert request.attributes["claudette.outcome"] == "cancelled"
    assert request.status.status_code is StatusCode.UNSET
    assert ATTEMPT_SPAN not in spans_by_name(exporter)  # a cancelled attempt is not reported


async def test_a_breaker_opening_is_an_event_on_the_attempt_that_opened_it(
    make_router: MakeRouter, first: OllamaEmulator, exporter: InMemorySpanExporter
) -> None:
    first.fail_always(OllamaFault.status_error(500))
    router = make_router(BreakAfter(1))

    await router.route_request(ClaudetteRequest(prompt="hi"))

    failed, answered = spans_by_name(exporter)[ATTEMPT_SPAN]
    (event,) = failed.events
    assert event.name == "claudette.breaker_transition"
    assert dict(event.attributes or {}) == {
        "claudette.backend": "a",
        "claudette.breaker_previous_state": "closed",
        "claudette.breaker_state": "open",
    }
    assert failed.start_time <= event.timestamp <= failed.end_time
    assert failed.attributes["claudette.breaker_state"] == "open"
    assert answered.events == ()


async def test_at_the_default_policy_the_breaker_opens_on_the_attempt_that_trips_it(
    make_router: MakeRouter, first: OllamaEmulator, exporter: InMemorySpanExporter
) -> None:
    first.fail_always(OllamaFault.status_error(500))
    router = make_router()
    threshold = BreakerPolicy().failure_threshold

    for _ in range(threshold + 1):
        await router.route_request(ClaudetteRequest(prompt="hi"))

    on_a = [s for s in spans_by_name(exporter)[ATTEMPT_SPAN] if s.attributes["claudette.backend"] == "a"]
    assert len(on_a) == threshold  # the request after the trip skips the open breaker
    assert [len(s.events) for s in on_a] == [0] * (threshold - 1) + [1]
    assert on_a[-1].events[0].attributes["claudette.breaker_state"] == "open"
    assert [s.attributes["claudette.breaker_state"] for s in on_a] == ["closed"] * (threshold - 1) + ["open"]


async def test_a_breaker_moved_by_time_is_an_event_on_the_current_span(
    provider: TracerProvider, exporter: InMemorySpanExporter, tracing: ClaudetteTracing
) -> None:
    manager = ClaudettePlugins(autoload=False, plugins=[tracing])
    with provider.get_tracer("app").start_as_current_span("operator"):
        manager.breaker_transition("a", "open", "half_open", None)

    (span,) = exporter.get_finished_spans()
    assert [e.attributes["claudette.breaker_state"] for e in span.events] == ["half_open"]


async def test_no_message_text_is_recorded_unless_asked_for(
    make_router: MakeRouter, provider: TracerProvider, exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    router = make_router(tracer=ClaudetteTracing(provider))

    await router.route_request(ClaudetteRequest(prompt="the secret plan"))

    recorded = json.dumps([dict(s.attributes or {}) for s in exporter.get_finished_spans()])
    assert "the secret plan" not in recorded and "Hello there" not in recorded
    assert "gen_ai.input.messages" not in recorded


@pytest.mark.parametrize("how", ["environment", "argument"])
async def test_message_text_is_recorded_when_asked_for(
    how: str, make_router: MakeRouter, provider: TracerProvider, exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if how == "environment":
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
        tracer = ClaudetteTracing(provider)
    else:
        monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
        tracer = ClaudetteTracing(provider, capture_content=True)
    router = make_router(tracer=tracer)

    await router.route_request(ClaudetteRequest(prompt="the plan", messages=[{"role": "system", "content": "be brief"}]))

    spans = spans_by_name(exporter)
    (request,) = spans[REQUEST_SPAN]
    (attempt,) = spans[ATTEMPT_SPAN]
    assert json.loads(request.attributes["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "the plan"}]},
    ]
    assert json.loads(attempt.attributes["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello there"}], "finish_reason": "stop"}
    ]


async def test_the_api_key_never_reaches_a_span(
    make_router: MakeRouter, first: OllamaEmulator, provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    first.fail_always(OllamaFault.status_error(401, f"bad key {SECRET}"))
    router = make_router(tracer=ClaudetteTracing(provider, capture_content=True))

    # A refused key is ``a``'s own misconfiguration: the router falls back to ``b``.
    response = await router.route_request(ClaudetteRequest(prompt="hi"))

    assert response.backend_used == "b"
    spans = exporter.get_finished_spans()
    assert len(spans) == 3  # the request and its two attempts
    for span in spans:
        dumped = json.dumps(
            [dict(span.attributes or {}), [dict(e.attributes or {}) for e in span.events],
             span.status.description, span.name]
        )
        assert SECRET not in dumped


def test_the_plugin_implements_the_observer_hooks_and_loads_cleanly(tracing: ClaudetteTracing) -> None:
    manager = ClaudettePlugins(autoload=False, plugins=[tracing])

    assert manager.failures == []
    (info,) = [i for i in manager.plugin_infos() if "claudette_request_start" in i.hooks]
    assert info.hooks == (
        "claudette_after_attempt",
        "claudette_breaker_transition",
        "claudette_request_end",
        "claudette_request_start",
    )


def test_the_installed_package_is_discovered_through_its_entry_point() -> None:
    manager = ClaudettePlugins()

    infos = {i.name: i for i in manager.plugin_infos()}
    assert infos["otel"].distribution == "claudette-otel"
    assert "claudette_after_attempt" in infos["otel"].hooks
    assert manager.failures == []


def test_importing_claudette_loads_no_opentelemetry() -> None:
    code = "import sys, claudette; print(sorted(m for m in sys.modules if m.startswith(('opentelemetry', 'claudette_otel'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
