"""claudette's conformance suite, run against this backend (see claudette.testing.conformance)."""

from __future__ import annotations
{%- if cookiecutter.protocol == "openai-compatible" %}

from claudette.testing.conformance import BackendConformance
from claudette_backend_openai.testing.replies import OpenAIConformanceReplies

from {{ cookiecutter.__module_name }} import plugin


class Test{{ cookiecutter.class_name }}Conformance(OpenAIConformanceReplies, BackendConformance):
    """Every generic backend behaviour the router relies on, with the openai plugin's
    OpenAI-format replies (override one where {{ cookiecutter.provider_name }} answers differently)."""

    plugin = plugin
    backend_name = plugin.PLUGIN_NAME
{%- else %}

from collections.abc import Sequence

from claudette.testing import Reply
from claudette.testing.conformance import BackendConformance

import wire
from {{ cookiecutter.__module_name }} import plugin


class Test{{ cookiecutter.class_name }}Conformance(BackendConformance):
    """Every generic backend behaviour the router relies on."""

    plugin = plugin
    backend_name = plugin.PLUGIN_NAME

    def success_reply(self, text: str, tokens_input: int, tokens_output: int) -> Reply:
        return wire.success(text, tokens_input, tokens_output)

    def stream_reply(self, pieces: Sequence[str], tokens_input: int, tokens_output: int) -> Reply:
        return wire.stream(pieces, tokens_input, tokens_output)

    def error_reply(self, status: int, message: str) -> Reply:
        return wire.error(status, message)

    def health_reply(self) -> Reply:
        return wire.health()
{%- endif %}
