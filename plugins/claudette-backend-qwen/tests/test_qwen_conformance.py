"""claudette's backend conformance suite, run against the Qwen backend (self-hosted mode)."""

from __future__ import annotations

from claudette.testing import Reply
from claudette.testing.conformance import BackendConformance
from claudette_backend_openai.testing.replies import OpenAIConformanceReplies

import claudette_backend_qwen.plugin as plugin


class TestQwenConformance(OpenAIConformanceReplies, BackendConformance):
    """The suite, through the ``qwen`` plugin's registration and defaults."""

    plugin = plugin
    backend_name = "qwen"

    def health_reply(self) -> Reply:
        """vLLM's ``/health``: an empty 200."""
        return Reply(200)
