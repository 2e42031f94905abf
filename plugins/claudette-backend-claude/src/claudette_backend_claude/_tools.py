"""Tools, tool results, images and structured output in the Messages API's format.

- a message with parts becomes content blocks: ``text``, and ``image`` with a ``base64``
  or ``url`` source;
- an assistant message's tool calls become ``tool_use`` blocks; ``tool`` messages become
  ``tool_result`` blocks in one user message (consecutive results share it, and a user
  message that follows them joins it);
- ``tool_choice``: ``auto`` → ``{"type": "auto"}``, ``required`` → ``{"type": "any"}``,
  ``{"name": n}`` → ``{"type": "tool", "name": n}``, ``none`` → ``{"type": "none"}``;
- a response format is asked for with a forced tool (:data:`STRUCTURED_TOOL`) whose input
  schema is the response schema: every Claude model supports it, and the tool's input is
  the answer's text (not a tool call). A request cannot offer its own tools and a
  response format at once here: that is an ``InvalidRequestError`` before any call;
- ``seed`` does not exist in the API: it is left out (a debug log says so).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from claudette.messages import ImagePart, Message, TextPart, ToolCall
from claudette.types import ClaudetteRequest

__all__ = ["STRUCTURED_TOOL", "add_features", "messages_body", "tool_call_of"]

logger = logging.getLogger("claudette.backends.claude")

#: The tool that carries a structured answer (a response format) as its input.
STRUCTURED_TOOL = "structured_output"
_OBJECT_SCHEMA: Mapping[str, Any] = {"type": "object"}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _blocks(message: Message) -> list[dict[str, Any]]:
    """A user or assistant message's content as blocks."""
    blocks: list[dict[str, Any]] = []
    content = message.content
    if isinstance(content, str):
        if content:
            blocks.append({"type": "text", "text": content})
    else:
        for part in content:
            if isinstance(part, TextPart):
                if part.text:
                    blocks.append({"type": "text", "text": part.text})
            else:
                blocks.append({"type": "image", "source": _image_source(part)})
    for call in message.tool_calls:
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": dict(call.arguments)}
        )
    return blocks


def _image_source(image: ImagePart) -> dict[str, Any]:
    if image.url is not None:
        return {"type": "url", "url": image.url}
    return {"type": "base64", "media_type": image.media_type, "data": image.data}


def messages_body(request: ClaudetteRequest) -> tuple[list[str], list[dict[str, Any]]]:
    """The system texts and the ``messages`` of a request with parts or tool messages."""
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for message in request.all_messages:
        if message.role == "system":
            if message.text:
                system.append(message.text)
            continue
        if message.role == "tool" and message.tool_call_id is None:
            role, blocks = "user", _blocks(message)  # a tool's output as plain text
        elif message.role == "tool":
            blocks: list[dict[str, Any]] = [
                {"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.text}
            ]
            role = "user"
        else:
            role = "assistant" if message.role == "assistant" else "user"
            blocks = _blocks(message)
        previous = out[-1] if out else None
        if previous is not None and previous["role"] == role == "user" and _has_results(previous):
            previous["content"].extend(blocks)  # results first, then the user's text
        else:
            out.append({"role": role, "content": blocks})
    return system, out


def _has_results(message: Mapping[str, Any]) -> bool:
    content = message["content"]
    return isinstance(content, list) and any(b.get("type") == "tool_result" for b in content)


def add_features(body: dict[str, Any], request: ClaudetteRequest) -> str | None:
    """Add tools, tool choice, structured output and ``top_p`` to ``body``.

    :returns: the name of the structured-output tool when the answer comes as its input.
    :raises ValueError: when the request asks for tools and a response format at once.
    """
    opts = request.options
    if opts.top_p is not None:
        body["top_p"] = opts.top_p
    if opts.seed is not None:
        logger.debug("the Messages API has no seed: it is left out of the request")
    fmt = request.response_format
    if fmt is not None:
        if request.tools and request.tool_choice != "none":
            raise ValueError(
                "the claude backend asks for structured output with a forced tool, so a "
                "request cannot offer tools and a response_format at once"
            )
        schema = fmt["json_schema"]["schema"] if fmt["type"] == "json_schema" else _OBJECT_SCHEMA
        body["tools"] = [
            {
                "name": STRUCTURED_TOOL,
                "description": "Give the answer as this tool's input.",
                "input_schema": _plain(schema),
            }
        ]
        body["tool_choice"] = {"type": "tool", "name": STRUCTURED_TOOL}
        return STRUCTURED_TOOL
    if request.tools:
        body["tools"] = [
            {
                "name": t.name,
                **({"description": t.description} if t.description else {}),
                "input_schema": dict(t.parameters),
            }
            for t in request.tools
        ]
        choice = request.tool_choice
        if choice is not None:
            if isinstance(choice, Mapping):
                body["tool_choice"] = {"type": "tool", "name": choice["name"]}
            else:
                body["tool_choice"] = {"type": {"required": "any"}.get(choice, choice)}
    return None


def tool_call_of(block: Mapping[str, Any]) -> ToolCall:
    """The :class:`ToolCall` of a ``tool_use`` block.

    :raises ValueError: when the block has no id or name, or its input is not an object.
    """
    ident, name, arguments = block.get("id"), block.get("name"), block.get("input")
    if not isinstance(ident, str) or not isinstance(name, str):
        raise ValueError("a tool_use block has no 'id' or 'name' string")
    if isinstance(arguments, str):  # a streamed input, still as JSON text
        try:
            arguments = json.loads(arguments) if arguments else {}
        except ValueError:
            raise ValueError(f"the input of tool_use {ident!r} is not valid JSON") from None
    if not isinstance(arguments, Mapping):
        raise ValueError(f"the input of tool_use {ident!r} is not a JSON object")
    return ToolCall(ident, name, arguments)
