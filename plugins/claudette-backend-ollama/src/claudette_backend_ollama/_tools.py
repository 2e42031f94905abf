"""Tools, tool results, images and structured output in Ollama's native chat format.

- tools are sent in OpenAI's function shape; Ollama has no ``tool_choice``: ``auto`` is
  its only behaviour, ``none`` leaves the tools out, and ``required`` or a named tool
  cannot be expressed (an ``InvalidRequestError`` before any call);
- a reply's ``message.tool_calls`` carry ``arguments`` as an object and no id: the id
  is synthesised from the call (:func:`call_id`), stable, so the next turn's tool result
  finds its call again; a tool result is sent as ``{"role": "tool", "content",
  "tool_name"}``, the name taken from the call it answers;
- images are base64 strings in the message's ``images`` (an image by URL cannot be
  sent: Ollama fetches nothing);
- ``format`` is ``"json"`` for ``json_object``, the schema itself for ``json_schema``;
  ``top_p`` and ``seed`` go into ``options``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from claudette.messages import Message, ToolCall, parse_arguments
from claudette.types import ClaudetteRequest

__all__ = ["add_features", "call_id", "message_dicts", "parse_tool_calls"]


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def call_id(index: int, name: str, arguments: Mapping[str, Any]) -> str:
    """A stable id for a call Ollama reported without one."""
    digest = hashlib.sha256(
        json.dumps([index, name, arguments], sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    return f"call_{digest[:24]}"


def message_dicts(request: ClaudetteRequest) -> list[dict[str, Any]]:
    """The ``messages`` of a request with images, tool calls or tool results.

    :raises ValueError: for an image by URL.
    """
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for message in request.all_messages:
        entry: dict[str, Any] = {"role": message.role, "content": message.text}
        images = message.images
        if images:
            if any(i.data is None for i in images):
                raise ValueError(
                    "Ollama takes images as base64 data, not by URL: give ImagePart(data=..., "
                    "media_type=...) or a data: URL"
                )
            entry["images"] = [i.data for i in images]
        if message.tool_calls:
            entry["tool_calls"] = [
                {"function": {"name": c.name, "arguments": dict(c.arguments)}}
                for c in message.tool_calls
            ]
            names.update((c.id, c.name) for c in message.tool_calls)
        if message.role == "tool":
            name = message.name or names.get(message.tool_call_id or "")
            if name:
                entry["tool_name"] = name
        out.append(entry)
    return out


def needs_messages(message: Message) -> bool:
    """True when a message is more than role and text."""
    return message.content.__class__ is not str or bool(message.tool_calls) or message.role == "tool"


def add_features(payload: dict[str, Any], options: dict[str, Any], request: ClaudetteRequest) -> None:
    """Add tools, the format, ``top_p`` and ``seed``.

    :raises ValueError: for a ``tool_choice`` Ollama cannot express.
    """
    choice = request.tool_choice
    if request.tools and choice != "none":
        if choice is not None and choice != "auto":
            raise ValueError(
                f"Ollama cannot force a tool call (tool_choice {_plain(choice)!r}): it has "
                "no tool_choice; use 'auto' or a backend that has one"
            )
        payload["tools"] = [t.to_openai() for t in request.tools]
    fmt = request.response_format
    if fmt is not None:
        payload["format"] = (
            _plain(fmt["json_schema"]["schema"]) if fmt["type"] == "json_schema" else "json"
        )
    opts = request.options
    if opts.top_p is not None:
        options["top_p"] = opts.top_p
    if opts.seed is not None:
        options["seed"] = opts.seed


def parse_tool_calls(raw: Any, first_index: int = 0) -> tuple[ToolCall, ...]:
    """The ``message.tool_calls`` of a reply or stream line.

    :param first_index: how many calls came before (in earlier stream lines).
    :raises ValueError: when a call is malformed.
    """
    if not isinstance(raw, list):
        raise ValueError(f"message.tool_calls is {type(raw).__name__}, not a list")
    calls: list[ToolCall] = []
    for offset, item in enumerate(raw):
        index = first_index + offset
        function = item.get("function") if isinstance(item, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise ValueError(f"tool call {index} has no function name")
        arguments = parse_arguments(function.get("arguments"), f"tool call {index}")
        ident = item.get("id")
        if not isinstance(ident, str) or not ident:
            ident = call_id(index, function["name"], arguments)
        calls.append(ToolCall(ident, function["name"], arguments))
    return tuple(calls)
