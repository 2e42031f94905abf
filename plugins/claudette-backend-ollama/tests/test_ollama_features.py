"""claudette's feature conformance suite (tools, structured output, images) on the Ollama backend."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from claudette.testing import Reply
from claudette.testing.feature_conformance import FeatureConformance
from claudette.types import BackendSettings

import claudette_backend_ollama.plugin as plugin
from claudette_backend_ollama.testing import OllamaEmulator


class TestOllamaFeatures(FeatureConformance):
    """The suite against the Ollama emulator, through the ``ollama`` plugin's registration.

    Ollama has no ``tool_choice`` and takes images only as base64.
    """

    plugin = plugin
    backend_name = "ollama"
    forces_tools = False
    images_by_url = False

    @contextlib.contextmanager
    def emulator(self) -> Iterator[BackendSettings]:
        with OllamaEmulator(models=("conformance-model-1",)) as server:
            yield BackendSettings(base_url=server.url, model="conformance-model-1")

    def bad_arguments_reply(self) -> Reply:
        return Reply.json(
            {
                "model": "conformance-model-1",
                "created_at": "2025-01-01T00:00:00Z",
                "message": {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [{"function": {"name": "get_weather", "arguments": '{"city": "Par'}}],
                },
                "done_reason": "stop",
                "done": True,
            }
        )
