"""The claudette plugin: registers the ``{{ cookiecutter.__plugin_name }}`` backend with its defaults.

Declared in pyproject.toml as the entry point
``{{ cookiecutter.__plugin_name }} = "{{ cookiecutter.__module_name }}.plugin"`` in the group
``claudette.backends``. The hook runs at start-up: it must not touch the network.
"""

from __future__ import annotations

from claudette import BackendPluginRegistry, BackendSettings, hookimpl

from {{ cookiecutter.__module_name }}.backend import {{ cookiecutter.class_name }}

__all__ = ["DEFAULTS", "PLUGIN_NAME", "claudette_register_backends"]

#: The name users write in their config (``plugin = "{{ cookiecutter.__plugin_name }}"``).
PLUGIN_NAME = "{{ cookiecutter.__plugin_name }}"

#: What a user's settings fall back to. No prices here: a price in the settings counts as
#: configured by the user; the backend's ``default_prices()`` is the plugin's own.
DEFAULTS = BackendSettings(
    model="{{ cookiecutter.default_model }}",
    base_url="{{ cookiecutter.default_base_url }}",
{%- if cookiecutter.backend_type == "cloud" %}
    api_key_env="{{ cookiecutter.__api_key_env }}",
{%- endif %}
    backend_type="{{ cookiecutter.backend_type }}",
    timeout=60.0,
)


@hookimpl
def claudette_register_backends(registry: BackendPluginRegistry) -> None:
    """Register :class:`{{ cookiecutter.class_name }}` as ``{{ cookiecutter.__plugin_name }}``."""
    registry.register(PLUGIN_NAME, {{ cookiecutter.class_name }}, defaults=DEFAULTS)
