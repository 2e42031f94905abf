"""The Anthropic Messages API wire format: request bodies in, parsed messages out.

Pure functions with no I/O, so the backend and the emulator agree on one definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from claudette.messages import ToolCall
from claudette.types import BackendSettings, ClaudetteRequest
from claudette.usage_guard import plausible_count

from claudette_backend_claude._tools import add_features, messages_body, tool_call_of

__all__ = [
    "ANTHROPIC_VERSION",
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_TOKENS",
    "ParsedMessage",
    "ProtocolError",
    "build_body",
    "cache_tokens",
    "normalise_stop_reason",
    "parse_message",
    "token_count",
    "usage_metadata",
]

#: The API version header every call sends.
ANTHROPIC_VERSION = "2023-06-01"
#: Where the API lives unless ``base_url`` or ``$ANTHROPIC_BASE_URL`` says otherwise.
DEFAULT_BASE_URL = "https://api.anthropic.com"
#: ``max_tokens`` is required by the API; used when neither request nor settings set it.
DEFAULT_MAX_TOKENS = 1024
#: Request fields ``settings.extra`` may add to the body.
BODY_EXTRAS = ("top_k", "top_p")

_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}


class ProtocolError(ValueError):
    """A body that does not follow the Messages API (turned into ResponseFormatError)."""


def normalise_stop_reason(stop_reason: str | None) -> str | None:
    """claudette's ``finish_reason`` for an Anthropic ``stop_reason``.

    ``end_turn`` and ``stop_sequence`` become ``stop``, ``max_tokens`` becomes ``length``,
    ``tool_use`` becomes ``tool_calls``; any other value (``refusal``, ``pause_turn`` ...)
    is kept as it is.
    """
    if stop_reason is None:
        return None
    return _STOP_REASONS.get(stop_reason, stop_reason)


def build_body(
    request: ClaudetteRequest, settings: BackendSettings, *, stream: bool
) -> dict[str, Any]:
    """The JSON body of ``POST /v1/messages`` for ``request``.

    System messages are joined (blank line between) into the top-level ``system`` field;
    parts, tool calls and tool results become content blocks (see
    :mod:`claudette_backend_claude._tools`); ``max_tokens`` is always present; the
    temperature is clamped to the API's 0..1 range.

    :raises ValueError: for what the API cannot express (tools with a response format).
    """
    system_parts: list[str] = []
    messages: list[dict[str, Any]] = []
    if request.required_capabilities:
        system_parts, messages = messages_body(request)
    else:
        for message in request.all_messages:
            if message.role == "system":
                if message.content:
                    system_parts.append(message.text)
                continue
            role = "assistant" if message.role == "assistant" else "user"
            messages.append({"role": role, "content": message.content})
    options = request.options
    max_tokens = options.max_tokens or settings.max_tokens or DEFAULT_MAX_TOKENS
    body: dict[str, Any] = {
        "model": options.model or settings.model,
        "messages": messages,
        "max_tokens": int(max_tokens),
    }
    if system_parts:
        body["system"] = "\n\n".join(system_parts)
    temperature = options.temperature if options.temperature is not None else settings.temperature
    if temperature is not None:
        body["temperature"] = min(max(float(temperature), 0.0), 1.0)
    if options.stop:
        body["stop_sequences"] = list(options.stop)
    for key in BODY_EXTRAS:
        if key in settings.extra:
            body[key] = settings.extra[key]
    if request.required_capabilities or request.tool_choice or request.response_format or (
        options.top_p is not None or options.seed is not None
    ):
        add_features(body, request)
    body["stream"] = stream
    return body


@attrs.frozen
class ParsedMessage:
    """The facts claudette keeps from one Anthropic message.

    :param text: the text blocks joined.
    :param input_tokens: reported prompt tokens, None when absent.
    :param output_tokens: reported generated tokens, None when absent.
    :param model: the model that answered.
    :param stop_reason: Anthropic's raw stop reason.
    :param stop_sequence: the stop sequence that matched, if any.
    :param message_id: the message id.
    :param usage: the whole usage object (cache counters included).
    :param skipped_blocks: the types of non-text content blocks that were ignored.
    :param tool_calls: the ``tool_use`` blocks, as calls.
    """

    text: str
    input_tokens: int | None
    output_tokens: int | None
    model: str | None
    stop_reason: str | None
    stop_sequence: str | None
    message_id: str | None
    usage: Mapping[str, Any]
    skipped_blocks: tuple[str, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()


def token_count(usage: Mapping[str, Any], key: str) -> int | None:
    """The non-negative integer ``usage[key]``, or None when absent or malformed."""
    value = usage.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def parse_message(data: object, structured: str | None = None) -> ParsedMessage:
    """Parse a ``{"type": "message", ...}`` body.

    :param structured: the structured-output tool's name, when one was forced: its input
        is the answer's text (JSON), not a tool call.
    :raises ProtocolError: when it is not an object with a ``content`` list, or a
        ``tool_use`` block is malformed.
    """
    if not isinstance(data, Mapping):
        raise ProtocolError(f"expected a JSON object, got {type(data).__name__}")
    content = data.get("content")
    if not isinstance(content, list):
        raise ProtocolError("the message has no 'content' list")
    texts: list[str] = []
    skipped: list[str] = []
    calls: list[ToolCall] = []
    for block in content:
        if isinstance(block, Mapping) and block.get("type") == "text":
            text = block.get("text")
            if not isinstance(text, str):
                raise ProtocolError("a text block has no 'text' string")
            texts.append(text)
        elif isinstance(block, Mapping) and block.get("type") == "tool_use":
            try:
                call = tool_call_of(block)
            except ValueError as exc:
                raise ProtocolError(str(exc)) from None
            if structured is not None and call.name == structured:
                texts.append(call.arguments_json)
            else:
                calls.append(call)
        else:
            kind = block.get("type") if isinstance(block, Mapping) else None
            skipped.append(kind if isinstance(kind, str) else type(block).__name__)
    raw_usage = data.get("usage")
    usage: Mapping[str, Any] = raw_usage if isinstance(raw_usage, Mapping) else {}
    return ParsedMessage(
        text="".join(texts),
        input_tokens=token_count(usage, "input_tokens"),
        output_tokens=token_count(usage, "output_tokens"),
        model=_optional_str(data.get("model")),
        stop_reason=_optional_str(data.get("stop_reason")),
        stop_sequence=_optional_str(data.get("stop_sequence")),
        message_id=_optional_str(data.get("id")),
        usage=dict(usage),
        skipped_blocks=tuple(skipped),
        tool_calls=tuple(calls),
    )


def cache_tokens(usage: Mapping[str, Any]) -> tuple[int, int]:
    """``(cache read, cache write)`` prompt tokens: ``cache_read_input_tokens`` and
    ``cache_creation_input_tokens``, which Anthropic counts apart from ``input_tokens``;
    0 where absent or malformed."""
    return (
        token_count(usage, "cache_read_input_tokens") or 0,
        token_count(usage, "cache_creation_input_tokens") or 0,
    )


def usage_metadata(usage: Mapping[str, Any]) -> dict[str, Any]:
    """The usage counters worth keeping beyond input/output (the prompt-cache ones); a
    counter that is not a plausible token count is left out."""
    return {
        key: value
        for key, value in usage.items()
        if isinstance(key, str) and key.startswith("cache_") and plausible_count(value)
    }
