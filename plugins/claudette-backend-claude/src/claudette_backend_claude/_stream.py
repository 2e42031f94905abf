"""Folding the Messages API's named stream events into text deltas and one final message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from claudette_backend_claude._protocol import ParsedMessage, ProtocolError, token_count

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
        {"message_start", "content_block_delta", "message_delta", "message_stop", "error"}
    )

    def __init__(self) -> None:
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
        if event == "content_block_delta":
            delta = _mapping(data.get("delta"), "content_block_delta.delta")
            if delta.get("type") != "text_delta":
                return ""  # input_json_delta, thinking_delta ...: not text for the caller
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

    def message(self) -> ParsedMessage:
        """The whole answer as a :class:`ParsedMessage`."""
        return ParsedMessage(
            text="".join(self.parts),
            input_tokens=token_count(self.usage, "input_tokens"),
            output_tokens=token_count(self.usage, "output_tokens"),
            model=self.model,
            stop_reason=self.stop_reason,
            stop_sequence=self.stop_sequence,
            message_id=self.message_id,
            usage=dict(self.usage),
        )
