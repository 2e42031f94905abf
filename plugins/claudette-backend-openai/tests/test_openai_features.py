"""claudette's feature conformance suite (tools, structured output, images) on the OpenAI backend."""

from __future__ import annotations

from claudette.testing.feature_conformance import FeatureConformance

import claudette_backend_openai.plugin as plugin
from claudette_backend_openai.testing.replies import OpenAIFeatureAdapter


class TestOpenAIFeatures(OpenAIFeatureAdapter, FeatureConformance):
    """The suite against the OpenAI emulator, through the ``openai`` plugin's registration."""

    plugin = plugin
    backend_name = "openai"
