"""claudette's feature conformance suite (tools, structured output, images) on the Claude backend."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from claudette.testing import Reply
from claudette.testing.feature_conformance import FeatureConformance
from claudette.types import BackendSettings

import claudette_backend_claude.plugin as plugin
from claudette_backend_claude.testing import AnthropicEmulator


class TestClaudeFeatures(FeatureConformance):
    """The suite against the Anthropic emulator, through the ``claude`` plugin's registration."""

    plugin = plugin
    backend_name = "claude"

    @contextlib.contextmanager
    def emulator(self) -> Iterator[BackendSettings]:
        with AnthropicEmulator() as api:
            yield api.settings()

    def bad_arguments_reply(self) -> Reply:
        return Reply.json(
            {
                "id": "msg_bad",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5",
                "content": [
                    {"type": "tool_use", "id": "toolu_bad", "name": "get_weather", "input": '{"city": "Par'}
                ],
                "stop_reason": "tool_use",
                "stop_sequence": None,
                "usage": {"input_tokens": 20, "output_tokens": 8},
            }
        )
