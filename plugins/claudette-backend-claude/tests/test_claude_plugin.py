"""The plugin: discovered through its entry point, registered with working defaults."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest
from claude_support import API_KEY
from claudette import BackendSettings, ClaudettePlugins, ClaudetteRequest, ConfigError

import claudette_backend_claude
import claudette_backend_claude.plugin
from claudette_backend_claude import ClaudeBackend
from claudette_backend_claude.testing import AnthropicEmulator


@pytest.fixture
def plugins() -> ClaudettePlugins:
    """An isolated plugin manager holding only this plugin."""
    return ClaudettePlugins(autoload=False, plugins=[claudette_backend_claude.plugin])


def test_entry_point_names_the_plugin_module() -> None:
    found = {ep.name: ep.value for ep in entry_points(group="claudette.backends")}
    assert found["claude"] == "claudette_backend_claude.plugin"


def test_entry_point_is_discovered_by_autoload() -> None:
    pm = ClaudettePlugins(autoload=True)
    assert "claude" in pm.registry
    assert pm.registry.get("claude").cls is ClaudeBackend


def test_registers_claude_backend(plugins: ClaudettePlugins) -> None:
    assert plugins.registry.get("claude").cls is ClaudeBackend
    assert plugins.failures == []


def test_created_backend_has_provider_defaults(plugins: ClaudettePlugins) -> None:
    backend = plugins.registry.create("claude", BackendSettings(api_key=API_KEY))
    s = backend.settings
    assert isinstance(backend, ClaudeBackend)
    assert backend.name == "claude"
    assert s.model == "claude-sonnet-4-5"
    # No price of its own: the config's, else the price table's, else unknown.
    assert (s.cost_per_token, s.input_cost_per_token, s.output_cost_per_token) == (None, None, None)
    assert s.api_key_env == "ANTHROPIC_API_KEY"
    assert s.backend_type == "cloud"
    backend.validate_config()


def test_user_settings_beat_defaults(plugins: ClaudettePlugins) -> None:
    settings = BackendSettings(api_key=API_KEY, model="claude-haiku-4-5", output_cost_per_token=1e-6)
    backend = plugins.registry.create("claude", settings, instance_name="fast")
    assert backend.name == "fast"
    assert backend.settings.model == "claude-haiku-4-5"
    assert backend.prices.output == 1e-6


def test_key_is_read_from_anthropic_api_key(plugins: ClaudettePlugins, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env-123456")
    backend = plugins.registry.create("claude")
    assert backend.settings.api_key == "sk-ant-from-env-123456"
    backend.validate_config()


def test_missing_key_is_a_config_problem_naming_the_variable(plugins: ClaudettePlugins) -> None:
    backend = plugins.registry.create("claude")
    with pytest.raises(ConfigError) as info:
        backend.validate_config()
    assert [p.path for p in info.value.problems] == ["backends.claude.api_key"]
    assert "ANTHROPIC_API_KEY" in str(info.value)


def test_unknown_extra_option_is_a_config_problem(plugins: ClaudettePlugins) -> None:
    backend = plugins.registry.create("claude", BackendSettings(api_key=API_KEY, extra={"top_kk": 3}))
    with pytest.raises(ConfigError) as info:
        backend.validate_config()
    assert [p.path for p in info.value.problems] == ["backends.claude.extra.top_kk"]


def test_settings_repr_hides_the_key(plugins: ClaudettePlugins) -> None:
    backend = plugins.registry.create("claude", BackendSettings(api_key=API_KEY))
    assert API_KEY not in repr(backend.settings)
    assert API_KEY not in repr(backend)


async def test_created_backend_answers(plugins: ClaudettePlugins) -> None:
    with AnthropicEmulator(api_key=API_KEY) as api:
        backend = plugins.registry.create("claude", BackendSettings(api_key=API_KEY, base_url=api.url))
        try:
            response = await backend.send(ClaudetteRequest(prompt="hi"))
        finally:
            await backend.aclose()
    assert response.content == "Hello there"
    assert api.calls[-1].body["model"] == "claude-sonnet-4-5"


def test_version_is_exported() -> None:
    assert claudette_backend_claude.__version__ == "0.1.0"
