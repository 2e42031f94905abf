"""claudette's feature conformance suite (tools, structured output, images), run against this
backend (see claudette.testing.feature_conformance)."""

from __future__ import annotations
{%- if cookiecutter.protocol == "openai-compatible" %}

from claudette.testing.feature_conformance import FeatureConformance
from claudette_backend_openai.testing.replies import OpenAIFeatureAdapter

from {{ cookiecutter.__module_name }} import plugin


class Test{{ cookiecutter.class_name }}Features(OpenAIFeatureAdapter, FeatureConformance):
    """Tools, structured output and images against the openai plugin's emulator (set
    `capabilities` in the settings where {{ cookiecutter.provider_name }}'s models lack one)."""

    plugin = plugin
    backend_name = plugin.PLUGIN_NAME
{%- else %}

from claudette.testing.feature_conformance import FeatureConformance

from {{ cookiecutter.__module_name }} import plugin


class Test{{ cookiecutter.class_name }}Features(FeatureConformance):
    """The backend declares no capability yet: the suite checks that it refuses tools,
    images and JSON schemas before any network call. ADAPT: when you add one to
    `default_capabilities`, give this class an `emulator()` (see the suite's docstring)."""

    plugin = plugin
    backend_name = plugin.PLUGIN_NAME
{%- endif %}
