"""claudette's feature conformance suite (tools, structured output, images) on the Qwen backend."""

from __future__ import annotations

from claudette.testing.feature_conformance import FeatureConformance
from claudette_backend_openai.testing.replies import OpenAIFeatureAdapter

import claudette_backend_qwen.plugin as plugin


class TestQwenFeatures(OpenAIFeatureAdapter, FeatureConformance):
    """The suite against a vLLM-flavoured emulator, through the ``qwen`` plugin's registration."""

    plugin = plugin
    backend_name = "qwen"
    emulator_flavour = "vllm"


class TestQwenVisionFeatures(OpenAIFeatureAdapter, FeatureConformance):
    """A Qwen-VL deployment: images switched on in the settings."""

    plugin = plugin
    backend_name = "qwen"
    emulator_flavour = "vllm"

    def make_backend(self, settings):  # type: ignore[no-untyped-def]
        import attrs

        if settings.capabilities is None:
            settings = attrs.evolve(settings, capabilities=("tools", "images", "json_schema"))
        return super().make_backend(settings)


def test_qwen_declares_no_images_by_default() -> None:
    from claudette import BackendSettings

    backend = TestQwenFeatures().make_backend(BackendSettings(base_url="http://127.0.0.1:9/v1"))
    assert backend.capabilities == frozenset({"tools", "json_schema"})
