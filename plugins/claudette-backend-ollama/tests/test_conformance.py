"""claudette's backend conformance suite, run against the Ollama wire protocol."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

from claudette.testing import Reply
from claudette.testing.conformance import BackendConformance, ScriptedReply

import claudette_backend_ollama.plugin as ollama_plugin

_MODEL = "conformance-model-1"  # the model the suite configures
_NDJSON = "application/x-ndjson"


def _line(obj: dict[str, object]) -> str:
    return json.dumps(obj, separators=(",", ":")) + "\n"


class TestOllamaConformance(BackendConformance):
    """The shared suite with Ollama's native replies."""

    plugin: ClassVar[Any] = ollama_plugin
    backend_name: ClassVar[str] = "ollama"

    def success_reply(self, text: str, tokens_input: int, tokens_output: int) -> ScriptedReply:
        return Reply.json(
            {
                "model": _MODEL,
                "created_at": "2025-01-01T00:00:00.123456789Z",
                "message": {"role": "assistant", "content": text},
                "done_reason": "stop",
                "done": True,
                "total_duration": 512345678,
                "prompt_eval_count": tokens_input,
                "eval_count": tokens_output,
            }
        )

    def stream_reply(
        self, pieces: Sequence[str], tokens_input: int, tokens_output: int
    ) -> ScriptedReply:
        lines = [
            _line({"model": _MODEL, "message": {"role": "assistant", "content": p}, "done": False})
            for p in pieces
        ]
        lines.append(
            _line(
                {
                    "model": _MODEL,
                    "message": {"role": "assistant", "content": ""},
                    "done_reason": "stop",
                    "done": True,
                    "prompt_eval_count": tokens_input,
                    "eval_count": tokens_output,
                }
            )
        )
        return Reply.stream(lines, _NDJSON)

    def error_reply(self, status: int, message: str) -> ScriptedReply:
        return Reply.json({"error": message}, status=status)

    def health_reply(self) -> ScriptedReply:
        return Reply.json({"models": [{"name": _MODEL, "model": _MODEL}]})
