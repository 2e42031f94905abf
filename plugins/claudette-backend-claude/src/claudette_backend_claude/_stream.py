"""Folding the Messages API's named stream events into text deltas and one final message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from claudette.messages import ToolCallDelta

from claudette_backend_claude._protocol import ParsedMessage, ProtocolError, token_count
from claudette_backend_claude._tools import tool_call_of

__all__ = ["StreamState"]


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ProtocolError(f"{what} is {type(value).__name__}, not an object")
    return value


class StreamState:
    """What a stream has said so far: text, usage, stop reason.

    Feed it each event the backend handles (``HANDLED``); ``ping`` and unknown events
    are never fed. After ``message_stop``, :attr:`stopped` is True and :meth:`message`
    gives the whole answer.
    """

    #: The event names that carry meaning (``ping`` and anything new are skipped).
    HANDLED: ClassVar[frozenset[str]] = frozenset(
        {
            "message_start",
            "content_block_start",
            "content_block_delta",
            "message_delta",
            "message_stop",
            "error",
        }
    )

    def __init__(self, structured: str | None = None) -> None:
        #: The structured-output tool's name: its streamed input is the answer's text.
        self.structured = structured
        #: Tool-call pieces of the last event, not yet passed on.
        self.pending: tuple[ToolCallDelta, ...] = ()
        #: ``tool_use`` blocks by content index: [call index, id, name, input pieces].
        self.tools: dict[int, list[Any]] = {}
        self.structured_blocks: set[int] = set()
        self.parts: list[str] = []
        self.usage: dict[str, Any] = {}
        self.model: str | None = None
        self.message_id: str | None = None
        self.stop_reason: str | None = None
        self.stop_sequence: str | None = None
        self.started = False
        self.stopped = False

    def feed(self, event: str, payload: object) -> str:
        """Take one event; returns the new text it carries ("" for none)."""
        data = _mapping(payload, f"the data of event {event!r}")
        if event == "message_start":
            message = _mapping(data.get("message"), "message_start.message")
            self.started = True
            model, mid = message.get("model"), message.get("id")
            self.model = model if isinstance(model, str) else None
            self.message_id = mid if isinstance(mid, str) else None
            usage = message.get("usage")
            if isinstance(usage, Mapping):
                self.usage.update(usage)
            return ""
        if not self.started:
            raise ProtocolError(f"event {event!r} arrived before message_start")
        if event == "content_block_start":
            block = _mapping(data.get("content_block"), "content_block_start.content_block")
            if block.get("type") == "tool_use":
                index, ident, name = data.get("index"), block.get("id"), block.get("name")
                if not isinstance(index, int) or not isinstance(ident, str) or not isinstance(name, str):
                    raise ProtocolError("a tool_use block starts without index, id or name")
                if name == self.structured:
                    self.structured_blocks.add(index)
                    return ""
                position = len(self.tools)
                self.tools[index] = [position, ident, name, []]
                self.pending = (ToolCallDelta(position, ident, name, ""),)
            return ""
        if event == "content_block_delta":
            delta = _mapping(data.get("delta"), "content_block_delta.delta")
            if delta.get("type") == "input_json_delta":
                piece = delta.get("partial_json")
                if not isinstance(piece, str):
                    raise ProtocolError("an input_json_delta has no 'partial_json' string")
                index = data.get("index")
                if index in self.structured_blocks:
                    self.parts.append(piece)
                    return piece
                call = self.tools.get(index)  # type: ignore[arg-type]
                if call is None:
                    raise ProtocolError(f"an input_json_delta for block {index!r}, not a tool_use")
                call[3].append(piece)
                if piece:
                    self.pending = (ToolCallDelta(call[0], None, None, piece),)
                return ""
            if delta.get("type") != "text_delta":
                return ""  # thinking_delta, signature_delta ...: not text for the caller
            text = delta.get("text")
            if not isinstance(text, str):
                raise ProtocolError("a text_delta has no 'text' string")
            self.parts.append(text)
            return text
        if event == "message_delta":
            change = data.get("delta")
            if isinstance(change, Mapping):
                reason, seq = change.get("stop_reason"), change.get("stop_sequence")
                if isinstance(reason, str):
                    self.stop_reason = reason
                if isinstance(seq, str):
                    self.stop_sequence = seq
            usage = data.get("usage")
            if isinstance(usage, Mapping):
                # Counts in message_delta are cumulative: they replace earlier ones.
                self.usage.update({k: v for k, v in usage.items() if v is not None})
            return ""
        if event == "message_stop":
            self.stopped = True
        return ""

    def take_pending(self) -> tuple[ToolCallDelta, ...]:
        """The tool-call pieces not yet passed on (and forget them)."""
        pending, self.pending = self.pending, ()
        return pending

    def message(self) -> ParsedMessage:
        """The whole answer as a :class:`ParsedMessage`.

        :raises ProtocolError: when a tool call's streamed input is not a JSON object.
        """
        calls = []
        for _, ident, name, pieces in sorted(self.tools.values(), key=lambda c: c[0]):
            try:
                calls.append(tool_call_of({"id": ident, "name": name, "input": "".join(pieces)}))
            except ValueError as exc:
                raise ProtocolError(str(exc)) from None
        return ParsedMessage(
            text="".join(self.parts),
            input_tokens=token_count(self.usage, "input_tokens"),
            output_tokens=token_count(self.usage, "output_tokens"),
            model=self.model,
            stop_reason=self.stop_reason,
            stop_sequence=self.stop_sequence,
            message_id=self.message_id,
            usage=dict(self.usage),
            tool_calls=tuple(calls),
        )
