"""Tools, tool results, images and structured output in the Chat Completions format.

claudette's own values (:mod:`claudette.messages`) are OpenAI's shapes already, so the
request side is a direct mapping; the reply side parses ``message.tool_calls`` and
assembles streamed ``delta.tool_calls`` pieces by their ``index``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from claudette.messages import Message, ToolCall, ToolCallDelta, parse_arguments
from claudette.types import ClaudetteRequest

__all__ = ["ToolCallAssembler", "add_features", "message_dict", "parse_tool_calls"]


def message_dict(message: Message) -> dict[str, Any]:
    """One message in the Chat Completions format (parts, tool calls, tool results)."""
    if message.content.__class__ is str and not message.tool_calls and message.role != "tool":
        return {"role": message.role, "content": message.content}
    out = message.to_dict()
    if message.role == "tool":
        out.pop("name", None)  # a tool result is matched by its tool_call_id
    # A message of calls only keeps content "" (not null): llama.cpp's server refuses null.
    return out


def add_features(body: dict[str, Any], request: ClaudetteRequest) -> None:
    """Add the request's tools, tool choice, response format, ``top_p`` and ``seed``."""
    if request.tools:
        body["tools"] = [t.to_openai() for t in request.tools]
    choice = request.tool_choice
    if choice is not None and request.tools:
        body["tool_choice"] = (
            choice
            if isinstance(choice, str)
            else {"type": "function", "function": {"name": choice["name"]}}
        )
    fmt = request.response_format
    if fmt is not None:
        if fmt["type"] == "json_schema":
            spec = fmt["json_schema"]
            body["response_format"] = {"type": "json_schema", "json_schema": _plain(spec)}
        else:
            body["response_format"] = {"type": "json_object"}
    opts = request.options
    if opts.top_p is not None:
        body["top_p"] = opts.top_p
    if opts.seed is not None:
        body["seed"] = opts.seed


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def parse_tool_calls(raw: Any) -> tuple[ToolCall, ...]:
    """The ``tool_calls`` of a reply's message.

    :raises ValueError: when a call is malformed or its arguments are not a JSON object.
    """
    if not raw:
        return ()
    if not isinstance(raw, list):
        raise ValueError(f"message.tool_calls is {type(raw).__name__}, not a list")
    calls: list[ToolCall] = []
    for i, item in enumerate(raw):
        function = item.get("function") if isinstance(item, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise ValueError(f"tool call {i} has no function name")
        ident = item.get("id")
        if not isinstance(ident, str) or not ident:
            ident = f"call_{i}"  # some compatible servers leave it out
        calls.append(
            ToolCall(ident, function["name"], parse_arguments(function.get("arguments"), f"tool call {i}"))
        )
    return tuple(calls)


class ToolCallAssembler:
    """Streamed ``delta.tool_calls`` pieces, assembled by ``index``.

    The first piece of a call carries its id and name, later ones more of its arguments.
    """

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: dict[int, list[Any]] = {}

    def feed(self, raw: Any) -> tuple[ToolCallDelta, ...]:
        """Take one delta's ``tool_calls`` list; the pieces it adds.

        :raises ValueError: when a piece is not an object with an integer ``index``.
        """
        if not isinstance(raw, list):
            raise ValueError(f"delta.tool_calls is {type(raw).__name__}, not a list")
        out: list[ToolCallDelta] = []
        for item in raw:
            if not isinstance(item, Mapping):
                raise ValueError("a streamed tool call piece is not an object")
            index = item.get("index", len(self._calls) if "id" in item else 0)
            if isinstance(index, bool) or not isinstance(index, int):
                raise ValueError(f"a streamed tool call piece has index {index!r}")
            function = item.get("function")
            function = function if isinstance(function, Mapping) else {}
            ident, name = item.get("id"), function.get("name")
            arguments = function.get("arguments")
            arguments = arguments if isinstance(arguments, str) else ""
            call = self._calls.setdefault(index, [None, None, []])
            if isinstance(ident, str) and ident and call[0] is None:
                call[0] = ident
            else:
                ident = None
            if isinstance(name, str) and name and call[1] is None:
                call[1] = name
            else:
                name = None
            if arguments:
                call[2].append(arguments)
            out.append(ToolCallDelta(index, ident, name, arguments))
        return tuple(out)

    def calls(self) -> tuple[ToolCall, ...]:
        """The assembled calls, parsed, in index order.

        :raises ValueError: when a call has no name or its arguments are not a JSON object.
        """
        out: list[ToolCall] = []
        for index in sorted(self._calls):
            ident, name, parts = self._calls[index]
            if not name:
                raise ValueError(f"streamed tool call {index} has no name")
            arguments = parse_arguments("".join(parts), f"streamed tool call {index}")
            out.append(ToolCall(ident or f"call_{index}", name, arguments))
        return tuple(out)
