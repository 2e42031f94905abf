"""The spans: one per routed request, one child per attempt, breaker moves as events.

:class:`ClaudetteTracing` implements claudette's observer hooks with the OpenTelemetry API:

- ``claudette_request_start`` opens the request span (``claudette chat``, kind INTERNAL),
  a child of whatever span is current in the caller;
- ``claudette_after_attempt`` records the attempt as a child span (``chat {model}``, kind
  CLIENT) from its start to its end, with the GenAI attributes, and error status when it
  failed;
- ``claudette_breaker_transition`` records a ``claudette.breaker_transition`` event on the
  span of the attempt that moved the breaker (or on the current span when time moved it);
- ``claudette_request_end`` sets what the request came to (the backend that answered, the
  usage, the cost, the failed backends) and ends the request span: for a stream, when its
  last chunk is ready, or when the reader leaves.

Message text is recorded only when asked for (``capture_content``, or
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`` when the plugin is created). No
setting of a backend is read but its name and model, so an API key never reaches a span.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any

from claudette import hookimpl
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from claudette_otel import attributes as attr

if TYPE_CHECKING:
    from claudette import (
        BackendError,
        BaseBackend,
        ClaudetteRequest,
        ClaudetteResponse,
        RequestContext,
    )
    from opentelemetry.trace import Span, Tracer, TracerProvider

__all__ = ["CAPTURE_CONTENT_ENV", "STATE_KEY", "ClaudetteTracing", "provider_name"]

#: OpenTelemetry's switch for recording message content in GenAI spans.
CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
#: Where this plugin keeps a request's spans in ``RequestContext.state``.
STATE_KEY = "claudette-otel"

_OPERATION = "chat"
_REQUEST_SPAN = "claudette chat"
_BREAKER_EVENT = "claudette.breaker_transition"

#: The GenAI provider name of the first-party backend packages, by top-level module.
_PROVIDERS = {
    "claudette_backend_openai": "openai",
    "claudette_backend_claude": "anthropic",
    "claudette_backend_ollama": "ollama",
    "claudette_backend_qwen": "qwen",
}


def provider_name(backend: BaseBackend) -> str:
    """The ``gen_ai.provider.name`` of ``backend``.

    A backend class may name its provider in a ``gen_ai_provider`` class attribute; the
    first-party packages' names are known; any other backend is named after its package
    (``claudette_backend_acme`` -> ``acme``).
    """
    declared = getattr(backend, "gen_ai_provider", None)
    if isinstance(declared, str) and declared:
        return declared
    package = type(backend).__module__.partition(".")[0]
    return _PROVIDERS.get(package) or package.removeprefix("claudette_backend_")


def _capture_from_env() -> bool:
    return os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


class _RequestTrace:
    """One request's span, and breaker events waiting for their attempt's span."""

    __slots__ = ("events", "span")

    def __init__(self, span: Span | None) -> None:
        self.span = span
        self.events: list[tuple[dict[str, Any], int]] = []


def _set(attributes: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` when ``value`` is something OpenTelemetry can carry (not None)."""
    if value is not None:
        attributes[key] = value


def _response_attributes(attributes: dict[str, Any], response: ClaudetteResponse) -> None:
    _set(attributes, attr.GEN_AI_RESPONSE_MODEL, response.model)
    attributes[attr.GEN_AI_USAGE_INPUT_TOKENS] = response.tokens_input
    attributes[attr.GEN_AI_USAGE_OUTPUT_TOKENS] = response.tokens_output
    attributes[attr.CLAUDETTE_COST_EUR] = response.cost_eur
    if response.finish_reason is not None:
        attributes[attr.GEN_AI_RESPONSE_FINISH_REASONS] = (response.finish_reason,)
    request_id = response.metadata.get("request_id")
    if isinstance(request_id, str):
        attributes[attr.GEN_AI_RESPONSE_ID] = request_id


def _error_status(span: Span, attributes: dict[str, Any], error: BaseException) -> None:
    attributes[attr.ERROR_TYPE] = type(error).__name__
    span.set_status(Status(StatusCode.ERROR, str(error)))


def _input_messages(request: ClaudetteRequest) -> str:
    return json.dumps(
        [
            {"role": m.role, "parts": [{"type": "text", "content": m.content}]}
            for m in request.all_messages
        ],
        ensure_ascii=False,
    )


def _output_messages(response: ClaudetteResponse) -> str:
    message: dict[str, Any] = {
        "role": "assistant",
        "parts": [{"type": "text", "content": response.content}],
    }
    if response.finish_reason is not None:
        message["finish_reason"] = response.finish_reason
    return json.dumps([message], ensure_ascii=False)


class ClaudetteTracing:
    """claudette's observer hooks, recorded as OpenTelemetry spans.

    Register an instance with the plugin manager (``ClaudettePlugins(plugins=[...])``), or
    install the package: its entry point ``otel`` is an instance on the global tracer
    provider, which the application configures with the SDK and an exporter.

    :param tracer_provider: where spans go; the global provider when omitted.
    :param capture_content: record the messages sent and the text answered
        (``gen_ai.input.messages``, ``gen_ai.output.messages``); by default only when
        ``$OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` is ``true`` as the plugin
        is created.
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        *,
        capture_content: bool | None = None,
    ) -> None:
        from claudette_otel import __version__

        self.tracer: Tracer = trace.get_tracer(
            "claudette_otel", __version__, tracer_provider=tracer_provider
        )
        #: Whether message text is recorded.
        self.capture_content = _capture_from_env() if capture_content is None else capture_content
        self._providers: dict[type[BaseBackend], str] = {}

    # -- the hooks ---------------------------------------------------------------------------

    @hookimpl
    def claudette_request_start(self, context: RequestContext) -> None:
        """Open the request span, a child of the caller's current span."""
        request = context.request
        attributes: dict[str, Any] = {
            attr.GEN_AI_OPERATION_NAME: _OPERATION,
            attr.CLAUDETTE_REQUEST_ID: context.request_id,
            attr.CLAUDETTE_STREAM: context.stream,
        }
        _set(attributes, attr.GEN_AI_REQUEST_MODEL, request.options.model)
        _set(attributes, attr.CLAUDETTE_FORCED_BACKEND, request.backend)
        if self.capture_content:
            attributes[attr.GEN_AI_INPUT_MESSAGES] = _input_messages(request)
        span = self.tracer.start_span(_REQUEST_SPAN, kind=SpanKind.INTERNAL, attributes=attributes)
        context.state[STATE_KEY] = _RequestTrace(span)

    @hookimpl
    def claudette_breaker_transition(
        self,
        backend_name: str,
        old_state: str,
        new_state: str,
        context: RequestContext | None,
    ) -> None:
        """Keep the move for the span of the attempt that made it (or the current span)."""
        attributes = {
            attr.CLAUDETTE_BACKEND: backend_name,
            attr.CLAUDETTE_BREAKER_PREVIOUS_STATE: old_state,
            attr.CLAUDETTE_BREAKER_STATE: new_state,
        }
        now = time.time_ns()
        if context is not None:
            held = context.state.get(STATE_KEY)
            if not isinstance(held, _RequestTrace):
                held = context.state[STATE_KEY] = _RequestTrace(None)
            held.events.append((attributes, now))
            return
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event(_BREAKER_EVENT, attributes, now)

    @hookimpl
    def claudette_after_attempt(
        self,
        backend: BaseBackend,
        request: ClaudetteRequest,
        response: ClaudetteResponse | None,
        error: BackendError | None,
        latency_ms: float,
        context: RequestContext,
    ) -> None:
        """Record the attempt as a span from its start to now."""
        end = time.time_ns()
        start = end - int(latency_ms * 1_000_000)
        held = context.state.get(STATE_KEY)
        parent = None
        if isinstance(held, _RequestTrace) and held.span is not None:
            parent = trace.set_span_in_context(held.span)
        model = request.options.model or backend.settings.model
        provider = self._providers.get(type(backend))
        if provider is None:
            provider = self._providers[type(backend)] = provider_name(backend)
        attributes: dict[str, Any] = {
            attr.GEN_AI_OPERATION_NAME: _OPERATION,
            attr.GEN_AI_PROVIDER_NAME: provider,
            attr.GEN_AI_SYSTEM: provider,
            attr.CLAUDETTE_BACKEND: backend.name,
            attr.CLAUDETTE_ATTEMPT: context.attempt,
        }
        _set(attributes, attr.GEN_AI_REQUEST_MODEL, model)
        _set(attributes, attr.GEN_AI_REQUEST_MAX_TOKENS, request.options.max_tokens)
        _set(attributes, attr.GEN_AI_REQUEST_TEMPERATURE, request.options.temperature)
        _set(attributes, attr.CLAUDETTE_FALLBACK_FROM, context.fallback_from)
        _set(attributes, attr.CLAUDETTE_FALLBACK_REASON, context.fallback_reason)
        _set(attributes, attr.CLAUDETTE_BREAKER_STATE, context.breaker_state)
        span = self.tracer.start_span(
            f"{_OPERATION} {model}" if model else _OPERATION,
            context=parent,
            kind=SpanKind.CLIENT,
            start_time=start,
        )
        if response is not None:
            _response_attributes(attributes, response)
            if self.capture_content:
                attributes[attr.GEN_AI_OUTPUT_MESSAGES] = _output_messages(response)
        if error is not None:
            _error_status(span, attributes, error)
            attributes[attr.CLAUDETTE_ERROR_RETRYABLE] = error.retryable
            _set(attributes, attr.HTTP_RESPONSE_STATUS_CODE, error.status_code)
        span.set_attributes(attributes)
        if isinstance(held, _RequestTrace):
            for event, timestamp in held.events:
                span.add_event(_BREAKER_EVENT, event, timestamp)
            held.events.clear()
        span.end(end_time=end)

    @hookimpl
    def claudette_request_end(
        self,
        context: RequestContext,
        response: ClaudetteResponse | None,
        error: BaseException | None,
    ) -> None:
        """Set what the request came to and end its span."""
        held = context.state.get(STATE_KEY)
        if not isinstance(held, _RequestTrace) or held.span is None:
            return
        span = held.span
        attributes: dict[str, Any] = {
            attr.CLAUDETTE_ATTEMPTS: context.attempt,
            attr.CLAUDETTE_OUTCOME: context.outcome or "",
        }
        if context.failures:
            attributes[attr.CLAUDETTE_FAILED_BACKENDS] = tuple(context.failures)
        _set(attributes, attr.CLAUDETTE_TIME_TO_FIRST_CHUNK_MS, context.first_chunk_ms)
        if response is not None:
            attributes[attr.CLAUDETTE_BACKEND] = response.backend_used
            _response_attributes(attributes, response)
            if self.capture_content:
                attributes[attr.GEN_AI_OUTPUT_MESSAGES] = _output_messages(response)
        elif error is not None:
            _error_status(span, attributes, error)
        span.set_attributes(attributes)
        for event, timestamp in held.events:  # a move no attempt span took
            span.add_event(_BREAKER_EVENT, event, timestamp)
        span.end()
        held.span = None
