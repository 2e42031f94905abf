"""The {{ cookiecutter.provider_name }} backend: OpenAI-compatible Chat Completions, built on the openai plugin.

The protocol itself is :class:`claudette_backend_openai.OpenAICompatibleBackend` (from the
``claudette-backend-openai`` package): ``POST {base_url}/chat/completions`` with JSON, or
Server-Sent Events when streaming; ``GET {base_url}/models`` as the free health check;
every failure translated into claudette's error family in one place. This class says only
what is {{ cookiecutter.provider_name }}'s own. Where the provider departs from OpenAI,
override one of the protocol's methods: ``build_payload`` (the request body),
``request_headers`` (authentication), ``translate_error`` (error replies),
``parse_completion`` (the answer) or ``health_check``.
"""

from __future__ import annotations

from typing import ClassVar

from claudette import TokenPrices
from claudette_backend_openai import OpenAICompatibleBackend

__all__ = ["{{ cookiecutter.class_name }}"]


class {{ cookiecutter.class_name }}(OpenAICompatibleBackend):
    """A backend for {{ cookiecutter.provider_name }}'s OpenAI-compatible API.

    :param name: the backend's name in the router.
    :param settings: its settings, merged with the plugin's defaults.
    :param client: an ``httpx.AsyncClient`` to use instead of the backend's own.
    """

    requires_api_key: ClassVar[bool] = {{ "True" if cookiecutter.backend_type == "cloud" else "False" }}
    requires_base_url: ClassVar[bool] = True
    #: The body field of the output-token budget (OpenAI itself wants ``max_completion_tokens``).
    max_tokens_field: ClassVar[str] = "max_tokens"
    #: Ask for the usage chunk when streaming (``stream_options.include_usage``).
    stream_usage: ClassVar[bool] = True

    def default_prices(self) -> TokenPrices | None:
{%- if cookiecutter.backend_type == "cloud" %}
        """The provider's list prices in EUR per token, used when the config sets none."""
        return TokenPrices(0.000001, 0.000004, source="plugin default")
{%- else %}
        """Free: a server of your own charges no per-token fee (a configured price wins)."""
        return TokenPrices.free()
{%- endif %}
