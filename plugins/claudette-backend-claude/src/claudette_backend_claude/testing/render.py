"""What the emulator says, byte for byte as the Messages API says it.

Deterministic: one "token" is one whitespace-led word piece, so ``"Hello there"`` is two
tokens streamed as ``"Hello"`` and ``" there"``; the prompt counts one token per four
characters unless the emulator is told a number.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

__all__ = [
    "Answer",
    "compose_answer",
    "dumps",
    "error_body",
    "message_json",
    "pieces",
    "prompt_tokens",
    "sse_event",
    "stream_events",
]

_PIECE = re.compile(r"\s*\S+|\s+")


def dumps(data: Any) -> str:
    """Compact JSON, as the API sends it."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def pieces(text: str) -> list[str]:
    """``text`` split into the emulator's tokens (word pieces with their leading space)."""
    return _PIECE.findall(text)


@attrs.frozen
class Answer:
    """One deterministic answer to a messages request.

    :param message_id: the ``msg_...`` id.
    :param model: the model named in the request.
    :param blocks: the content blocks (text blocks hold their final text).
    :param stop_reason: ``end_turn``, ``max_tokens`` or ``stop_sequence``.
    :param stop_sequence: the stop sequence that matched, if any.
    :param input_tokens: prompt tokens reported.
    :param output_tokens: generated tokens reported.
    """

    message_id: str
    model: str
    blocks: tuple[Mapping[str, Any], ...]
    stop_reason: str
    stop_sequence: str | None
    input_tokens: int
    output_tokens: int


def prompt_tokens(body: Mapping[str, Any]) -> int:
    """One token per four characters of the system prompt and messages (at least 1)."""
    chars = 0
    system = body.get("system")
    if isinstance(system, str):
        chars += len(system)
    for message in body.get("messages") or ():
        if isinstance(message, Mapping) and isinstance(message.get("content"), str):
            chars += len(message["content"])
        elif isinstance(message, Mapping) and isinstance(message.get("content"), list):
            chars += len(dumps(message["content"]))
    return max(1, math.ceil(chars / 4))


def compose_answer(
    body: Mapping[str, Any],
    reply: str | Sequence[Mapping[str, Any]],
    *,
    message_id: str,
    input_tokens: int | None,
) -> Answer:
    """The answer to ``body``: ``reply`` cut at a stop sequence or at ``max_tokens``.

    A string reply is one text block; a list of blocks is sent as given (only its text
    blocks count as output tokens and only they are cut).
    """
    stop_reason, stop_sequence = "end_turn", None
    budget = int(body.get("max_tokens") or 0)
    if isinstance(reply, str):
        text = reply
        cut = None
        for seq in body.get("stop_sequences") or ():
            at = text.find(seq) if isinstance(seq, str) and seq else -1
            if at >= 0 and (cut is None or at < cut[0]):
                cut = (at, seq)
        if cut is not None:
            text, stop_reason, stop_sequence = text[: cut[0]], "stop_sequence", cut[1]
        words = pieces(text)
        if budget and len(words) > budget:
            words, stop_reason, stop_sequence = words[:budget], "max_tokens", None
            text = "".join(words)
        blocks: tuple[Mapping[str, Any], ...] = ({"type": "text", "text": text},)
        output = len(words)
    else:
        blocks = tuple(dict(b) for b in reply)
        output = sum(len(pieces(b.get("text", ""))) for b in blocks if b.get("type") == "text")
        output += sum(len(dumps(b.get("input", {}))) // 4 for b in blocks if b.get("type") == "tool_use")
        if any(b.get("type") == "tool_use" for b in blocks):
            stop_reason = "tool_use"
    return Answer(
        message_id=message_id,
        model=str(body.get("model")),
        blocks=blocks,
        stop_reason=stop_reason,
        stop_sequence=stop_sequence,
        input_tokens=input_tokens if input_tokens is not None else prompt_tokens(body),
        output_tokens=output,
    )


def message_json(answer: Answer) -> bytes:
    """The non-streamed reply body (key order as the API's)."""
    return dumps(
        {
            "id": answer.message_id,
            "type": "message",
            "role": "assistant",
            "model": answer.model,
            "content": [dict(b) for b in answer.blocks],
            "stop_reason": answer.stop_reason,
            "stop_sequence": answer.stop_sequence,
            "usage": {
                "input_tokens": answer.input_tokens,
                "output_tokens": answer.output_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
    ).encode()


def sse_event(name: str, data: Mapping[str, Any]) -> str:
    """One named server-sent event."""
    return f"event: {name}\ndata: {dumps(data)}\n\n"


def _block_events(index: int, block: Mapping[str, Any]) -> list[str]:
    if block.get("type") == "text":
        start: Mapping[str, Any] = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in pieces(str(block.get("text", "")))]
    else:
        start = dict(block)
        deltas = []
        if block.get("type") == "tool_use":
            start = {**block, "input": {}}
            whole = dumps(block.get("input", {}))
            half = len(whole) // 2
            deltas = [
                {"type": "input_json_delta", "partial_json": ""},
                {"type": "input_json_delta", "partial_json": whole[:half]},
                {"type": "input_json_delta", "partial_json": whole[half:]},
            ]
    events = [
        sse_event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        )
    ]
    if index == 0:
        events.append(sse_event("ping", {"type": "ping"}))
    events += [
        sse_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
        for d in deltas
    ]
    events.append(sse_event("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events


def stream_events(answer: Answer) -> list[str]:
    """The streamed reply, one string per event, exactly as the API frames it."""
    start = {
        "type": "message_start",
        "message": {
            "id": answer.message_id,
            "type": "message",
            "role": "assistant",
            "model": answer.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": answer.input_tokens, "output_tokens": 1},
        },
    }
    events = [sse_event("message_start", start)]
    for index, block in enumerate(answer.blocks):
        events += _block_events(index, block)
    events.append(
        sse_event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": answer.stop_reason, "stop_sequence": answer.stop_sequence},
                "usage": {"output_tokens": answer.output_tokens},
            },
        )
    )
    events.append(sse_event("message_stop", {"type": "message_stop"}))
    return events


def error_body(error_type: str, message: str, request_id: str | None) -> bytes:
    """``{"type": "error", "error": {...}, "request_id"}`` as the API sends it."""
    data: dict[str, Any] = {"type": "error", "error": {"type": error_type, "message": message}}
    if request_id:
        data["request_id"] = request_id
    return dumps(data).encode()
