"""OpenAI wire-format replies for :class:`claudette.testing.conformance.BackendConformance`.

Mix :class:`OpenAIConformanceReplies` into a conformance test class of any backend that
speaks OpenAI Chat Completions (this package's, Qwen's ...)::

    class TestMyConformance(OpenAIConformanceReplies, BackendConformance):
        plugin = my_plugin
        backend_name = "mine"

It imports nothing from pytest, so importing it is always safe.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from claudette.testing import Reply
from claudette.types import BackendSettings

__all__ = ["OpenAIConformanceReplies", "OpenAIFeatureAdapter"]

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


class OpenAIFeatureAdapter:
    """The adapter of :class:`claudette.testing.feature_conformance.FeatureConformance` for
    any backend speaking Chat Completions: the :class:`~claudette_backend_openai.testing.OpenAIEmulator`
    (of :attr:`emulator_flavour`) and a tool call with broken arguments::

        class TestMyFeatures(OpenAIFeatureAdapter, FeatureConformance):
            plugin = my_plugin
            backend_name = "mine"
    """

    #: Whose server the emulator imitates (see ``OpenAIEmulator``'s flavours).
    emulator_flavour: ClassVar[str] = "openai"

    @contextlib.contextmanager
    def emulator(self) -> Iterator[BackendSettings]:
        """An OpenAI-compatible emulator; settings pointing at it."""
        from claudette_backend_openai.testing.emulator import OpenAIEmulator

        with OpenAIEmulator(flavour=self.emulator_flavour, models=("conformance-model-1",)) as server:
            yield BackendSettings(
                base_url=server.base_url, api_key="sk-feature", model="conformance-model-1"
            )

    def bad_arguments_reply(self) -> Reply:
        """A ``chat.completion`` whose tool call has truncated JSON arguments."""
        call = {
            "id": "call_bad",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Par'},
        }
        return Reply.json(
            {
                "id": "chatcmpl-bad",
                "object": "chat.completion",
                "created": _CREATED,
                "model": "conformance-model-1",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                        "finish_reason": "tool_calls",
                    }
                ],
                "usage": _usage(20, 8),
            }
        )
