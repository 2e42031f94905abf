"""The claudette plugin module (entry point ``ollama`` in the group ``claudette.backends``).

It registers :class:`~claudette_backend_ollama.OllamaBackend` under the name ``ollama``
with free, self-hosted defaults. Registration does no I/O.
"""

from __future__ import annotations

from claudette import BackendPluginRegistry, hookimpl

from claudette_backend_ollama.backend import DEFAULT_SETTINGS, OllamaBackend

__all__ = ["PLUGIN_NAME", "claudette_register_backends"]

#: The name this plugin registers its backend under (``plugin = "ollama"`` in config).
PLUGIN_NAME = "ollama"


@hookimpl
def claudette_register_backends(registry: BackendPluginRegistry) -> None:
    """Register ``ollama``: model ``qwen2.5:7b``, cost 0, ``self_hosted``; base URL from
    ``$OLLAMA_HOST`` or ``http://localhost:11434`` when the settings give none."""
    registry.register(PLUGIN_NAME, OllamaBackend, defaults=DEFAULT_SETTINGS)
