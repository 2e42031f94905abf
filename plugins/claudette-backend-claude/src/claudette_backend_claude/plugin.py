"""The claudette plugin module (entry point ``claude`` in group ``claudette.backends``).

It registers :class:`~claudette_backend_claude.ClaudeBackend` under the name ``claude``
with the provider's defaults. Registration does no I/O.
"""

from __future__ import annotations

from claudette import BackendPluginRegistry, hookimpl

from claudette_backend_claude.backend import DEFAULT_SETTINGS, ClaudeBackend

__all__ = ["PLUGIN_NAME", "claudette_register_backends"]

#: The name a config uses to pick this backend: ``plugin = "claude"``.
PLUGIN_NAME = "claude"


@hookimpl
def claudette_register_backends(registry: BackendPluginRegistry) -> None:
    """Register ``claude`` → :class:`ClaudeBackend` with model, prices and key variable."""
    registry.register(PLUGIN_NAME, ClaudeBackend, defaults=DEFAULT_SETTINGS)
