"""The ``openai`` plugin: registers :class:`OpenAIBackend` (entry point ``claudette.backends``)."""

from __future__ import annotations

from claudette import hookimpl
from claudette.plugins import BackendPluginRegistry

from claudette_backend_openai.backend import OpenAIBackend, default_settings

__all__ = ["PLUGIN_NAME", "claudette_register_backends"]

#: The name used in configuration: ``plugin = "openai"``.
PLUGIN_NAME = "openai"


@hookimpl
def claudette_register_backends(registry: BackendPluginRegistry) -> None:
    """Register the ``openai`` backend with OpenAI's defaults (no I/O)."""
    registry.register(PLUGIN_NAME, OpenAIBackend, defaults=default_settings())
