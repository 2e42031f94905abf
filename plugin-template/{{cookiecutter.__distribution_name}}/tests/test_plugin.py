"""The plugin is DISCOVERED when the package is installed, not just importable."""

from __future__ import annotations

from importlib.metadata import entry_points

from claudette import BackendSettings, ClaudettePlugins

from {{ cookiecutter.__module_name }} import {{ cookiecutter.class_name }}, plugin

DISTRIBUTION = "{{ cookiecutter.__distribution_name }}"


def test_entry_point_is_declared_in_the_claudette_group() -> None:
    found = [ep for ep in entry_points(group="claudette.backends") if ep.name == plugin.PLUGIN_NAME]

    assert [ep.value for ep in found] == ["{{ cookiecutter.__module_name }}.plugin"]
    assert found[0].load() is plugin


def test_a_fresh_plugin_manager_loads_it_from_the_installed_package() -> None:
    manager = ClaudettePlugins()

    infos = {info.name: info for info in manager.plugin_infos()}
    assert plugin.PLUGIN_NAME in infos
    info = infos[plugin.PLUGIN_NAME]
    assert info.distribution == DISTRIBUTION
    assert info.error is None
    assert "claudette_register_backends" in info.hooks


def test_registry_creates_the_backend_with_the_plugin_defaults() -> None:
    manager = ClaudettePlugins()

    backend = manager.registry.create(plugin.PLUGIN_NAME, BackendSettings(api_key="sk-test-key-123"))

    assert isinstance(backend, {{ cookiecutter.class_name }})
    assert backend.name == plugin.PLUGIN_NAME
    assert backend.settings.model == plugin.DEFAULTS.model
    assert backend.settings.base_url == plugin.DEFAULTS.base_url
    assert backend.settings.backend_type == "{{ cookiecutter.backend_type }}"


def test_blocking_the_plugin_by_name_leaves_it_out(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CLAUDETTE_BLOCK_PLUGINS", plugin.PLUGIN_NAME)

    manager = ClaudettePlugins()

    assert plugin.PLUGIN_NAME not in manager.registry
