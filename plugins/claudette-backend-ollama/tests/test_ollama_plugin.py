"""The plugin registers ``ollama`` with usable defaults, and is discovered when installed."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import pytest
from claudette import BackendSettings, ClaudettePlugins, ConfigError

import claudette_backend_ollama
import claudette_backend_ollama.plugin
from claudette_backend_ollama import OllamaBackend

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@pytest.fixture
def plugins() -> ClaudettePlugins:
    """A plugin manager holding only this plugin."""
    return ClaudettePlugins(autoload=False, plugins=[claudette_backend_ollama.plugin])


def test_registers_ollama(plugins: ClaudettePlugins) -> None:
    assert plugins.registry.get("ollama").cls is OllamaBackend


def test_create_with_nothing_given_is_valid(plugins: ClaudettePlugins) -> None:
    backend = plugins.registry.create("ollama", BackendSettings())
    backend.validate_config()
    assert isinstance(backend, OllamaBackend)
    assert backend.name == "ollama"
    assert backend.settings.model == "qwen2.5:7b"
    assert backend.settings.base_url == "http://localhost:11434"


def test_defaults_are_free_and_self_hosted(plugins: ClaudettePlugins) -> None:
    backend = plugins.registry.create("ollama", BackendSettings())
    assert backend.settings.backend_type == "self_hosted"
    assert backend.prices.is_free and backend.prices.source == "plugin default"
    assert backend.estimate_cost(1_000_000) == 0.0
    assert backend.get_info().type == "self_hosted"


def test_user_settings_win_over_defaults(plugins: ClaudettePlugins) -> None:
    backend = plugins.registry.create(
        "ollama",
        BackendSettings(model="llama3.2:3b", base_url="http://gpu:11434", cost_per_token=1e-9),
        instance_name="gpu",
    )
    assert (backend.name, backend.settings.model, backend.settings.base_url) == (
        "gpu",
        "llama3.2:3b",
        "http://gpu:11434",
    )
    assert backend.settings.cost_per_token == 1e-9


def test_create_reads_ollama_host(
    plugins: ClaudettePlugins, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "gpu-box:11500")
    assert plugins.registry.create("ollama").settings.base_url == "http://gpu-box:11500"


def test_registration_has_no_plugin_failures(plugins: ClaudettePlugins) -> None:
    assert plugins.failures == []


def test_entry_point_is_declared() -> None:
    eps = metadata.entry_points(group="claudette.backends")
    assert {ep.name: ep.value for ep in eps}["ollama"] == "claudette_backend_ollama.plugin"


def test_installed_plugin_is_discovered_by_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLAUDETTE_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("CLAUDETTE_BLOCK_PLUGINS", raising=False)
    plugins = ClaudettePlugins()
    assert plugins.registry.get("ollama").cls is OllamaBackend
    assert not [f for f in plugins.failures if f.plugin == "ollama"]


def test_distribution_metadata() -> None:
    dist = metadata.distribution("claudette-backend-ollama")
    assert dist.version == claudette_backend_ollama.__version__ == "0.1.0"
    requires = " ".join(dist.requires or [])
    assert "claudette-core" in requires
    assert "httpx" in requires


def test_package_is_typed() -> None:
    assert (Path(claudette_backend_ollama.__file__ or "").parent / "py.typed").is_file()


def test_unknown_extra_key_is_a_config_problem() -> None:
    backend = OllamaBackend("o", BackendSettings(extra={"keepalive": "5m"}))
    with pytest.raises(ConfigError) as info:
        backend.validate_config()
    assert [p.path for p in info.value.problems] == ["backends.o.extra.keepalive"]


@pytest.mark.parametrize(
    ("extra", "path"),
    [({"keep_alive": ["5m"]}, "keep_alive"), ({"options": "num_ctx=4096"}, "options")],
)
def test_bad_extra_values_are_config_problems(extra: dict[str, object], path: str) -> None:
    problems = OllamaBackend("o", BackendSettings(extra=extra)).config_problems()
    assert [p.path for p in problems] == [f"backends.o.extra.{path}"]


def test_readme_config_example_builds_valid_backends(plugins: ClaudettePlugins) -> None:
    from claudette.config import parse_config

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    toml = readme.split("```toml", 1)[1].split("```", 1)[0]
    config = parse_config(tomllib.loads(toml))
    built = [
        plugins.registry.create(b.plugin, b.settings, instance_name=b.name) for b in config.backends
    ]
    for backend in built:
        backend.validate_config()
    assert {type(b) for b in built} == {OllamaBackend}
