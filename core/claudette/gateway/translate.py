"""OpenAI Chat Completions ↔ claudette: the gateway's one translation layer.

- :func:`parse_chat_request`: an OpenAI request body → :class:`ChatCall` (a
  :class:`~claudette.types.ClaudetteRequest` and how to answer), or a 400/404
  :class:`~claudette.gateway.errors.GatewayError` naming the field at fault;
- :func:`completion_body`: a :class:`~claudette.types.ClaudetteResponse` → a
  ``chat.completion`` object;
- :class:`ChunkWriter`: :class:`~claudette.types.StreamChunk` → ``chat.completion.chunk``
  SSE events, the usage chunk and ``data: [DONE]``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Collection, Mapping
from typing import Any

import attrs

from claudette.errors import RequestValidationError
from claudette.gateway.errors import GatewayError
from claudette.messages import to_message
from claudette.types import (
    ClaudetteRequest,
    ClaudetteResponse,
    GenerationOptions,
    Message,
    ToolCallDelta,
)

__all__ = [
    "AUTO_MODEL",
    "EXTENSION_KEY",
    "ChatCall",
    "ChunkWriter",
    "completion_body",
    "cost_text",
    "extension_body",
    "parse_chat_request",
    "usage_body",
]

#: The model name that lets the router choose the backend.
AUTO_MODEL = "auto"
#: Request fields that change nothing in the answer; accepted and not passed on.
_IGNORED = frozenset({"user", "store", "metadata", "service_tier"})
#: Every request field the gateway accepts; any other is a 400 naming it.
_ACCEPTED = _IGNORED | {
    "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
    "temperature", "stop", "n", "top_p", "seed", "tools", "tool_choice", "response_format",
    "parallel_tool_calls",
}
_ROLES = {
    "system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool",
}
#: Message fields OpenAI's clients send back that change nothing for the next answer.
_IGNORED_MESSAGE_KEYS = frozenset({"refusal", "annotations", "audio", "function_call"})


@attrs.frozen
class ChatCall:
    """A parsed Chat Completions request.

    :param request: what the router is asked.
    :param stream: answer with server-sent events.
    :param include_usage: add the usage chunk before ``[DONE]`` (``stream_options``).
    """

    request: ClaudetteRequest
    stream: bool = False
    include_usage: bool = False


def _invalid(message: str, param: str | None) -> GatewayError:
    return GatewayError(400, message, param=param)


def _messages(value: Any) -> tuple[Message, ...]:
    if value is None:
        raise _invalid("'messages' is a required property", "messages")
    if not isinstance(value, list) or not value:
        raise _invalid("'messages' must be a non-empty array", "messages")
    out: list[Message] = []
    for i, item in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(item, dict):
            raise _invalid(f"{where} must be an object", where)
        role = item.get("role")
        if not isinstance(role, str):
            raise _invalid(f"{where}.role is a required string", f"{where}.role")
        mapped = _ROLES.get(role)
        if mapped is None:
            raise _invalid(
                f"{where}.role must be one of {sorted(_ROLES)}, got {role!r}", f"{where}.role"
            )
        if "content" not in item and not item.get("tool_calls"):
            raise _invalid(f"{where}.content is required", f"{where}.content")
        fields = {k: v for k, v in item.items() if k not in _IGNORED_MESSAGE_KEYS}
        fields["role"] = mapped
        try:
            out.append(to_message(fields, where))
        except RequestValidationError as exc:
            message = str(exc)
            raise _invalid(message if message.startswith(where) else f"{where}: {message}", where) from None
    return tuple(out)


def _max_tokens(body: Mapping[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise _invalid(f"'{name}' must be a whole number >= 1", name)
        return value
    return None


def _temperature(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 2:
        raise _invalid("'temperature' must be a number from 0 to 2", "temperature")
    return float(value)


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(s, str) for s in value) and len(value) <= 4:
        return tuple(value)
    raise _invalid("'stop' must be a string or an array of at most 4 strings", "stop")


def _tooling(body: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The one tool-related field ``name`` of ``body``, as ClaudetteRequest takes it."""
    value = body.get(name)
    if value is None:
        return {}
    if name == "tool_choice" and isinstance(value, (dict, str)):
        return {"tool_choice": value, "tools": body.get("tools") or ()}
    return {name: value}


def _top_p(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise _invalid("'top_p' must be a number from 0 to 1", "top_p")
    return float(value)


def _seed(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid("'seed' must be an integer", "seed")
    return value


def _flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _invalid(f"'{name}' must be true or false", name)
    return value


def parse_chat_request(body: Any, backends: Collection[str]) -> ChatCall:
    """An OpenAI Chat Completions request body (decoded JSON) → a :class:`ChatCall`.

    ``model`` is ``"auto"`` (the router chooses) or the name of one of ``backends``
    (that backend is forced).

    :raises GatewayError: 400 naming the field at fault; 404 ``model_not_found``.
    """
    if not isinstance(body, dict):
        raise _invalid("the request body must be a JSON object", None)
    model = body.get("model")
    if model is None:
        raise _invalid("'model' is a required property", "model")
    if not isinstance(model, str):
        raise _invalid("'model' must be a string", "model")
    messages = _messages(body.get("messages"))
    for name in body:
        if name not in _ACCEPTED:
            raise _invalid(f"Unrecognized request argument supplied: {name}", name)
    n = body.get("n")
    if n is not None and n != 1:
        raise _invalid("'n' must be 1: the gateway returns one choice", "n")
    stream = _flag(body, "stream")
    include_usage = False
    stream_options = body.get("stream_options")
    if stream_options is not None:
        if not isinstance(stream_options, dict):
            raise _invalid("'stream_options' must be an object", "stream_options")
        if not stream:
            raise _invalid("'stream_options' is only allowed when 'stream' is true", "stream_options")
        include_usage = _flag(stream_options, "include_usage")
    generation: dict[str, Any] = {
        "max_tokens": _max_tokens(body),
        "temperature": _temperature(body.get("temperature")),
        "stop": _stop(body.get("stop")),
        "top_p": _top_p(body.get("top_p")),
        "seed": _seed(body.get("seed")),
    }
    options = GenerationOptions(**generation)
    if model != AUTO_MODEL and model not in backends:
        raise GatewayError(
            404,
            f"The model '{model}' does not exist: use 'auto' or one of the configured backends "
            f"({', '.join(sorted(backends)) or 'none'})",
            param="model",
            code="model_not_found",
        )
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise _invalid("'tools' must be an array of tools", "tools")
    _flag(body, "parallel_tool_calls")
    for name in ("tools", "tool_choice", "response_format"):
        fields = _tooling(body, name)
        if not fields:
            continue
        try:  # each alone first, so that a 400 names the field at fault
            ClaudetteRequest(prompt="x", **fields)
        except RequestValidationError as exc:
            raise _invalid(str(exc), name) from None
    try:
        request = ClaudetteRequest(
            messages=messages,
            options=options,
            backend=None if model == AUTO_MODEL else model,
            stream=stream,
            tools=tools or (),
            tool_choice=body.get("tool_choice"),
            response_format=body.get("response_format"),
        )
    except RequestValidationError as exc:
        text = str(exc)
        raise _invalid(text, "tool_choice" if "tool_choice" in text else "messages") from None
    return ChatCall(request, stream, include_usage)


def new_completion_id() -> str:
    """A fresh ``chatcmpl-...`` id."""
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage_body(response: ClaudetteResponse) -> dict[str, Any]:
    """OpenAI's ``usage`` object for ``response``, with the cached and reasoning counts
    in OpenAI's detail objects."""
    return {
        "prompt_tokens": response.tokens_input,
        "completion_tokens": response.tokens_output,
        "total_tokens": response.tokens_input + response.tokens_output,
        "prompt_tokens_details": {"cached_tokens": response.tokens_cached_input},
        "completion_tokens_details": {"reasoning_tokens": response.tokens_reasoning},
    }


def _message_body(response: ClaudetteResponse) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": response.content, "refusal": None}
    if response.tool_calls:
        message["tool_calls"] = [call.to_openai() for call in response.tool_calls]
        if not response.content:
            message["content"] = None
    return message


#: The key of claudette's own object in a completion and in a stream's finishing chunk.
EXTENSION_KEY = "claudette"


def cost_text(cost: float) -> str:
    """What an answer cost, as the ``x-claudette-cost-eur`` header writes it."""
    return format(cost, ".10f")


def extension_body(response: ClaudetteResponse) -> dict[str, Any]:
    """claudette's own object: the backend that answered and what the answer cost.

    ``cost_eur`` is the number the ``x-claudette-cost-eur`` header writes (same rounding).
    OpenAI's SDKs keep unknown fields (``model_extra``, ``to_dict()``), so a client reads it.
    """
    return {"backend": response.backend_used, "cost_eur": float(cost_text(response.cost_eur))}


def completion_body(response: ClaudetteResponse, completion_id: str, created: int) -> dict[str, Any]:
    """A ``chat.completion`` object for ``response``, with :func:`extension_body`."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": response.model or response.backend_used,
        "choices": [
            {
                "index": 0,
                "message": _message_body(response),
                "logprobs": None,
                "finish_reason": response.finish_reason or "stop",
            }
        ],
        "usage": usage_body(response),
        "system_fingerprint": None,
        EXTENSION_KEY: extension_body(response),
    }


def _event(data: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


#: The last event of every stream.
DONE = b"data: [DONE]\n\n"


class ChunkWriter:
    """Writes one stream's ``chat.completion.chunk`` events.

    :param model: the model named in the chunks until the final one says which answered.
    :param include_usage: write the usage chunk (``choices: []``) before ``[DONE]``.
    """

    def __init__(self, model: str, *, include_usage: bool) -> None:
        self.id = new_completion_id()
        self.created = int(time.time())
        self.model = model
        self.include_usage = include_usage

    def _chunk(self, delta: Mapping[str, Any], finish_reason: str | None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }

    def first(self, text: str) -> bytes:
        """The first event: the assistant role and the first text."""
        return _event(self._chunk({"role": "assistant", "content": text}, None))

    def text(self, text: str) -> bytes:
        """An event carrying more text."""
        return _event(self._chunk({"content": text}, None))

    def tool_calls(self, deltas: tuple[ToolCallDelta, ...]) -> bytes:
        """An event carrying pieces of tool calls (OpenAI's ``delta.tool_calls``)."""
        calls: list[dict[str, Any]] = []
        for delta in deltas:
            call: dict[str, Any] = {"index": delta.index}
            function: dict[str, Any] = {"arguments": delta.arguments}
            if delta.id is not None:
                call["id"] = delta.id
                call["type"] = "function"
            if delta.name is not None:
                function["name"] = delta.name
            call["function"] = function
            calls.append(call)
        return _event(self._chunk({"tool_calls": calls}, None))

    def final(self, response: ClaudetteResponse) -> bytes:
        """The closing events: the finish reason, the usage chunk if asked for, ``[DONE]``.

        The chunk with the finish reason carries :func:`extension_body` (a stream's headers
        leave before its cost is known), whether or not the usage chunk follows.
        """
        if response.model:
            self.model = response.model
        finish = self._chunk({}, response.finish_reason or "stop")
        finish[EXTENSION_KEY] = extension_body(response)
        out = [_event(finish)]
        if self.include_usage:
            out.append(
                _event(
                    {
                        "id": self.id,
                        "object": "chat.completion.chunk",
                        "created": self.created,
                        "model": self.model,
                        "system_fingerprint": None,
                        "choices": [],
                        "usage": usage_body(response),
                    }
                )
            )
        out.append(DONE)
        return b"".join(out)

    @staticmethod
    def error(error: GatewayError) -> bytes:
        """An error event for a stream that failed after it began (OpenAI's SDKs raise it)."""
        return _event(error.body())
