"""The attribute names this plugin sets: OpenTelemetry's GenAI conventions, and claudette's own.

The ``gen_ai.*`` names follow the GenAI semantic conventions (their status is still
"development"): ``gen_ai.provider.name`` is the current name of the provider attribute and
``gen_ai.system`` the older one; both are set, to the same value, so that backends built
on either version of the conventions find it.
"""

from __future__ import annotations

__all__ = [
    "CLAUDETTE_ATTEMPT",
    "CLAUDETTE_ATTEMPTS",
    "CLAUDETTE_BACKEND",
    "CLAUDETTE_BREAKER_PREVIOUS_STATE",
    "CLAUDETTE_BREAKER_STATE",
    "CLAUDETTE_COST_EUR",
    "CLAUDETTE_ERROR_RETRYABLE",
    "CLAUDETTE_FAILED_BACKENDS",
    "CLAUDETTE_FALLBACK_FROM",
    "CLAUDETTE_FALLBACK_REASON",
    "CLAUDETTE_FORCED_BACKEND",
    "CLAUDETTE_OUTCOME",
    "CLAUDETTE_REQUEST_ID",
    "CLAUDETTE_STREAM",
    "CLAUDETTE_TIME_TO_FIRST_CHUNK_MS",
    "ERROR_TYPE",
    "GEN_AI_INPUT_MESSAGES",
    "GEN_AI_OPERATION_NAME",
    "GEN_AI_OUTPUT_MESSAGES",
    "GEN_AI_PROVIDER_NAME",
    "GEN_AI_REQUEST_MAX_TOKENS",
    "GEN_AI_REQUEST_MODEL",
    "GEN_AI_REQUEST_TEMPERATURE",
    "GEN_AI_RESPONSE_FINISH_REASONS",
    "GEN_AI_RESPONSE_ID",
    "GEN_AI_RESPONSE_MODEL",
    "GEN_AI_SYSTEM",
    "GEN_AI_USAGE_INPUT_TOKENS",
    "GEN_AI_USAGE_OUTPUT_TOKENS",
    "HTTP_RESPONSE_STATUS_CODE",
]

# -- OpenTelemetry semantic conventions ---------------------------------------------------------

#: What was asked of the model: always ``chat`` here.
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
#: The provider (``openai``, ``anthropic``, ``ollama`` ...).
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
#: The provider, under the conventions' older name.
GEN_AI_SYSTEM = "gen_ai.system"
#: The model asked for.
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
#: The most tokens asked for, when the request set it.
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
#: The sampling temperature, when the request set it.
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
#: The model that answered, as the provider reported it.
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
#: The provider's id of the answer, when it gave one.
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
#: Why generation stopped (a one-item list: claudette asks for one choice).
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
#: Prompt tokens (reported by the provider, else estimated).
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
#: Generated tokens (reported by the provider, else estimated).
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
#: The messages sent, as JSON; only when content capture is on.
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
#: The answer, as JSON; only when content capture is on.
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
#: The class of the error that ended an attempt or a request.
ERROR_TYPE = "error.type"
#: The provider's HTTP status, when an attempt failed with one.
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"

# -- claudette's own ------------------------------------------------------------------------------

#: The backend an attempt called; on the request span, the one that answered.
CLAUDETTE_BACKEND = "claudette.backend"
#: The number of the attempt within its request, from 1.
CLAUDETTE_ATTEMPT = "claudette.attempt"
#: On the request span: how many attempts it took.
CLAUDETTE_ATTEMPTS = "claudette.attempts"
#: On the first attempt after a fallback: the backend whose failure led to it.
CLAUDETTE_FALLBACK_FROM = "claudette.fallback_from"
#: ... and how that backend failed.
CLAUDETTE_FALLBACK_REASON = "claudette.fallback_reason"
#: On the request span: every backend that failed the request, in the order tried.
CLAUDETTE_FAILED_BACKENDS = "claudette.failed_backends"
#: What the answer cost, in EUR.
CLAUDETTE_COST_EUR = "claudette.cost_eur"
#: The backend's breaker state after the attempt; on an event, the state entered.
CLAUDETTE_BREAKER_STATE = "claudette.breaker_state"
#: On a breaker event: the state left.
CLAUDETTE_BREAKER_PREVIOUS_STATE = "claudette.breaker_previous_state"
#: Whether a failed attempt's error lets the router fall back.
CLAUDETTE_ERROR_RETRYABLE = "claudette.error.retryable"
#: The router's id of the request.
CLAUDETTE_REQUEST_ID = "claudette.request_id"
#: True for a streamed request.
CLAUDETTE_STREAM = "claudette.stream"
#: The backend the caller forced, if any.
CLAUDETTE_FORCED_BACKEND = "claudette.forced_backend"
#: How the request ended: ``success``, ``error`` or ``cancelled``.
CLAUDETTE_OUTCOME = "claudette.outcome"
#: A stream's time to its first chunk, from the request's start, in milliseconds.
CLAUDETTE_TIME_TO_FIRST_CHUNK_MS = "claudette.time_to_first_chunk_ms"
