"""OpenAI wire-format replies for :class:`claudette.testing.conformance.BackendConformance`.

Mix :class:`OpenAIConformanceReplies` into a conformance test class of any backend that
speaks OpenAI Chat Completions (this package's, Qwen's ...)::

    class TestMyConformance(OpenAIConformanceReplies, BackendConformance):
        plugin = my_plugin
        backend_name = "mine"

It imports nothing from pytest, so importing it is always safe.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from claudette.testing import Reply

__all__ = ["OpenAIConformanceReplies"]

_CREATED = 1735689600


def _event(data: Any) -> str:
    return f"data: {json.dumps(data)}\n\n"


def _usage(tokens_input: int, tokens_output: int) -> dict[str, int]:
    return {
        "prompt_tokens": tokens_input,
        "completion_tokens": tokens_output,
        "total_tokens": tokens_input + tokens_output,
    }


class OpenAIConformanceReplies:
    """The four reply kinds of the conformance suite, in OpenAI's wire format."""

    def success_reply(self, text: str, tokens_input: int, tokens_output: int) -> Reply:
        """A ``chat.completion`` answering ``text`` with the given usage."""
        return Reply.json(
            {
                "id": "chatcmpl-conformance",
                "object": "chat.completion",
                "created": _CREATED,
                "model": "conformance-model-1",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": _usage(tokens_input, tokens_output),
            }
        )

    def stream_reply(self, pieces: Sequence[str], tokens_input: int, tokens_output: int) -> Reply:
        """An SSE stream: a delta per piece, the finish chunk, the usage chunk, ``[DONE]``."""

        def chunk(choices: list[Any], usage: Any = None) -> str:
            return _event(
                {
                    "id": "chatcmpl-conformance",
                    "object": "chat.completion.chunk",
                    "created": _CREATED,
                    "model": "conformance-model-1",
                    "choices": choices,
                    "usage": usage,
                }
            )

        events = [
            chunk([{"index": 0, "delta": {"content": p}, "finish_reason": None}]) for p in pieces
        ]
        events.append(chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
        events.append(chunk([], _usage(tokens_input, tokens_output)))
        events.append("data: [DONE]\n\n")
        return Reply.stream(events)

    def error_reply(self, status: int, message: str) -> Reply:
        """OpenAI's error body for ``status``."""
        return Reply.json(
            {"error": {"message": message, "type": "api_error", "param": None, "code": None}},
            status=status,
        )

    def health_reply(self) -> Reply:
        """The model list (``GET /models``)."""
        return Reply.json(
            {
                "object": "list",
                "data": [
                    {"id": "conformance-model-1", "object": "model", "created": 0, "owned_by": "me"}
                ],
            }
        )
