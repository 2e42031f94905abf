"""claudette's backend conformance suite, run against the OpenAI backend."""

from __future__ import annotations

from claudette.testing.conformance import BackendConformance

import claudette_backend_openai.plugin as plugin
from claudette_backend_openai.testing.replies import OpenAIConformanceReplies


class TestOpenAIConformance(OpenAIConformanceReplies, BackendConformance):
    """The suite, through the ``openai`` plugin's registration and defaults."""

    plugin = plugin
    backend_name = "openai"
