"""The ``qwen`` plugin: registers :class:`QwenBackend` (entry point ``claudette.backends``)."""

from __future__ import annotations

from claudette import hookimpl
from claudette.plugins import BackendPluginRegistry

from claudette_backend_qwen.backend import QwenBackend, registration_defaults

__all__ = ["PLUGIN_NAME", "claudette_register_backends"]

#: The name used in configuration: ``plugin = "qwen"``.
PLUGIN_NAME = "qwen"


@hookimpl
def claudette_register_backends(registry: BackendPluginRegistry) -> None:
    """Register the ``qwen`` backend (no I/O; deployment defaults are resolved per backend)."""
    registry.register(PLUGIN_NAME, QwenBackend, defaults=registration_defaults())
