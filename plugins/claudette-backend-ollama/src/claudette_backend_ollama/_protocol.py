"""The Ollama native chat protocol: the request body and the facts read from a reply.

Pure functions, no I/O: :func:`chat_payload` builds the ``POST /api/chat`` body and
:func:`read_final` reads the text, usage, finish reason and timings of a ``done: true``
object (the whole answer, or the last line of a stream).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from claudette import BackendSettings, ClaudetteRequest, ResponseFormatError
from claudette.usage_guard import plausible_count, plausible_duration_ns

from claudette_backend_ollama._tools import add_features, message_dicts

__all__ = [
    "CHAT_PATH",
    "DURATION_FIELDS",
    "FinalFacts",
    "chat_payload",
    "message_delta",
    "message_tool_calls",
    "read_final",
]

#: The chat endpoint.
CHAT_PATH = "/api/chat"
#: Metric fields in nanoseconds, reported in the response metadata in milliseconds.
DURATION_FIELDS = ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration")


def chat_payload(
    request: ClaudetteRequest, settings: BackendSettings, *, stream: bool
) -> dict[str, Any]:
    """The JSON body of ``POST /api/chat`` for ``request``.

    ``stream`` is always sent (Ollama streams when it is absent). The request's options win
    over the settings; ``settings.extra["options"]`` adds other Ollama options (``num_ctx``,
    ``top_p`` ...) underneath them, and ``settings.extra["keep_alive"]`` is passed on.
    Options left unset are not sent, so the model's own defaults apply. Tools, images,
    tool results and formats: see :mod:`claudette_backend_ollama._tools`.

    :raises ValueError: for what Ollama cannot express (a forced tool, an image by URL).
    """
    opts = request.options
    base_options = settings.extra.get("options")
    options: dict[str, Any] = dict(base_options) if isinstance(base_options, Mapping) else {}
    temperature = opts.temperature if opts.temperature is not None else settings.temperature
    if temperature is not None:
        options["temperature"] = temperature
    max_tokens = opts.max_tokens if opts.max_tokens is not None else settings.max_tokens
    if max_tokens is not None:
        options["num_predict"] = max_tokens
    if opts.stop:
        options["stop"] = list(opts.stop)
    payload: dict[str, Any] = {
        "model": opts.model or settings.model,
        "messages": (
            message_dicts(request)
            if request.required_capabilities
            else [{"role": m.role, "content": m.content} for m in request.all_messages]
        ),
        "stream": stream,
    }
    if request.required_capabilities or request.tool_choice or request.response_format or (
        opts.top_p is not None or opts.seed is not None
    ):
        add_features(payload, options, request)
    if options:
        payload["options"] = options
    keep_alive = settings.extra.get("keep_alive")
    if keep_alive is not None:
        payload["keep_alive"] = keep_alive
    return payload


def message_tool_calls(obj: Mapping[str, Any]) -> Any:
    """The raw ``message.tool_calls`` of a reply or stream line (None when absent)."""
    message = obj.get("message")
    return message.get("tool_calls") if isinstance(message, Mapping) else None


def message_delta(backend: str, obj: Mapping[str, Any]) -> str:
    """The text in ``obj["message"]["content"]`` ("" when the object carries none).

    :raises ResponseFormatError: when ``message`` or its ``content`` has the wrong type.
    """
    message = obj.get("message")
    if message is None:
        return ""
    if not isinstance(message, Mapping):
        raise ResponseFormatError(
            f"'message' should be an object, got {type(message).__name__}", backend, True
        )
    content = message.get("content")
    if content is None:
        return ""
    if not isinstance(content, str):
        raise ResponseFormatError(
            f"'message.content' should be a string, got {type(content).__name__}", backend, True
        )
    return content


@attrs.frozen
class FinalFacts:
    """What a ``done: true`` object reports.

    :param tokens_input: ``prompt_eval_count`` (0 when absent), None when malformed.
    :param tokens_output: ``eval_count`` (0 when absent), None when malformed.
    :param finish_reason: ``done_reason`` (``stop``, ``length``, ``load``, ``unload``).
    :param model: the model that answered, as Ollama named it.
    :param metadata: the timings in milliseconds (``implausible_timings`` names the ones
        left out: negative, not numbers, or beyond thirty days) and ``created_at``.
    """

    tokens_input: int | None
    tokens_output: int | None
    finish_reason: str | None
    model: str | None
    metadata: dict[str, Any]


def _count(value: Any) -> int | None:
    """A token count: absent means zero (Ollama omits zero metrics); junk means unknown."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def read_final(obj: Mapping[str, Any]) -> FinalFacts:
    """The usage, finish reason, model and timings of a final (``done: true``) object."""
    metadata: dict[str, Any] = {}
    implausible: list[str] = []
    for field in DURATION_FIELDS:
        value = obj.get(field)
        if value is None:
            continue
        nanoseconds = plausible_duration_ns(value)
        if nanoseconds is None:
            implausible.append(field)  # not a number, negative, infinite or beyond reason
        else:
            metadata[f"{field}_ms"] = nanoseconds / 1_000_000
    if implausible:
        metadata["implausible_timings"] = implausible
    eval_count = obj.get("eval_count")
    eval_ns = plausible_duration_ns(obj.get("eval_duration"))
    if plausible_count(eval_count) and eval_ns:
        metadata["tokens_per_second"] = eval_count / (eval_ns / 1e9)
    created_at = obj.get("created_at")
    if isinstance(created_at, str):
        metadata["created_at"] = created_at
    reason = obj.get("done_reason")
    model = obj.get("model")
    return FinalFacts(
        tokens_input=_count(obj.get("prompt_eval_count")),
        tokens_output=_count(obj.get("eval_count")),
        finish_reason=reason if isinstance(reason, str) and reason else None,
        model=model if isinstance(model, str) and model else None,
        metadata=metadata,
    )
