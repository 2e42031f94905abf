"""Fixtures: the backend under test, built through the plugin's own registration."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from claudette import BackendSettings, BaseBackend, ClaudettePlugins
from claudette.testing import LoopbackServer

from {{ cookiecutter.__module_name }} import plugin

#: claudette's own fixtures (``claudette_loopback_server``, ``claudette_make_router``).
pytest_plugins = ["claudette.testing.pytest_plugin"]

#: A fake key: tests check it is sent, and never shown in an error.
API_KEY = "sk-test-{{ cookiecutter.__plugin_name }}-0123456789"


@pytest.fixture
def plugins() -> ClaudettePlugins:
    """A plugin manager holding only this plugin (no installed plugin is loaded)."""
    return ClaudettePlugins(autoload=False, plugins=[plugin])


@pytest.fixture
async def make_backend(
    plugins: ClaudettePlugins, claudette_loopback_server: LoopbackServer
) -> AsyncIterator[Callable[..., BaseBackend]]:
    """Build backends pointed at the loopback server; they are closed after the test."""
    made: list[BaseBackend] = []

    def make(**settings: object) -> BaseBackend:
        values: dict[str, object] = {"base_url": claudette_loopback_server.url, "api_key": API_KEY, "timeout": 5.0}
        values.update(settings)
        backend = plugins.registry.create(plugin.PLUGIN_NAME, BackendSettings(**values))  # type: ignore[arg-type]
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.aclose()
