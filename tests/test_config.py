"""claudette.toml loading: structure, interpolation, and errors that name file, key and type."""

from __future__ import annotations

from pathlib import Path

import pytest
from _support import FakeBackend
from claudette import BackendSettings, ConfigError, hookimpl
from claudette.config import find_config, load_config, parse_config
from claudette.factory import router_from_config
from claudette.plugins import ClaudettePlugins

GOOD = """
[router]
preset = "cost-optimized"
max_attempts = 2

[backends.local-a]
plugin = "fake"
base_url = "http://127.0.0.1:8081/v1"
cost_per_token = 1e-7

[backends.local-b]
plugin = "fake"
base_url = "http://127.0.0.1:8082/v1"
api_key = "${CLAUDETTE_TEST_KEY}"
timeout = 5
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "claudette.toml"
    path.write_text(text)
    return path


def test_good_config_structures_router_and_backends(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAUDETTE_TEST_KEY", "sk-from-env-123456")
    config = load_config(write(tmp_path, GOOD))
    assert config.router.cost_weight == 0.7 and config.router.max_attempts == 2
    assert [(b.name, b.plugin) for b in config.backends] == [("local-a", "fake"), ("local-b", "fake")]
    assert config.backends[1].settings.api_key == "sk-from-env-123456"
    assert config.backends[1].settings.timeout == 5.0


def test_every_problem_is_reported_with_file_and_key_path(tmp_path):
    path = write(
        tmp_path,
        """
[router]
cost_weight = "high"
bogus = 1
[backends.a]
plugin = "fake"
timeout = "slow"
unknown_key = 2
[backends.b]
base_url = 5
[extra]
""",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert err.source == str(path)
    found = {p.path: p.message for p in err.problems}
    assert found["router.cost_weight"] == "expected a number, got a str of 4 characters"
    assert found["router.bogus"] == "unknown key"
    assert found["backends.a.timeout"].startswith("expected a number")
    assert found["backends.a.unknown_key"] == "unknown key"
    assert "required key 'plugin'" in found["backends.b.plugin"]
    assert found["backends.b.base_url"].startswith("expected a string")
    assert "unknown top-level table" in found["extra"]
    assert str(path) in str(err)


def test_validator_problems_name_the_key(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, '[router]\ncost_weight = 3.0\n[backends.a]\nplugin="x"\ncost_per_token = -1\n'))
    paths = {p.path for p in info.value.problems}
    assert {"router.cost_weight", "backends.a.cost_per_token"} <= paths


def test_stream_bounds_and_continuation_are_read_and_validated(tmp_path):
    good = load_config(
        write(
            tmp_path,
            '[router]\nstream_continuation = true\n'
            '[backends.a]\nplugin = "x"\nstream_timeout = 120\nstream_idle_timeout = 15\n',
        )
    )
    assert good.router.stream_continuation is True
    settings = good.backends[0].settings
    assert (settings.stream_timeout, settings.stream_idle_timeout) == (120.0, 15.0)
    with pytest.raises(ConfigError) as info:
        load_config(
            write(
                tmp_path,
                '[router]\nstream_continuation = "yes"\n'
                '[backends.a]\nplugin = "x"\nstream_idle_timeout = "long"\n',
            )
        )
    found = {p.path: p.message for p in info.value.problems}
    assert {"router.stream_continuation", "backends.a.stream_idle_timeout"} <= set(found)
    assert found["backends.a.stream_idle_timeout"].startswith("expected a number")
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, '[backends.a]\nplugin = "x"\nstream_timeout = 0\n'))
    assert "backends.a.stream_timeout" in {p.path for p in info.value.problems}


def test_missing_environment_variable_is_a_problem(tmp_path, monkeypatch):
    monkeypatch.delenv("CLAUDETTE_TEST_KEY", raising=False)
    with pytest.raises(ConfigError, match="environment variable CLAUDETTE_TEST_KEY is not set"):
        load_config(write(tmp_path, GOOD))


def test_env_default_is_used_when_variable_is_unset(tmp_path, monkeypatch):
    monkeypatch.delenv("NOPE_X", raising=False)
    config = load_config(write(tmp_path, '[backends.a]\nplugin = "x"\nmodel = "${NOPE_X:-fallback-model}"\n'))
    assert config.backends[0].settings.model == "fallback-model"


def test_bad_toml_is_a_config_error_naming_the_file(tmp_path):
    path = write(tmp_path, "[router\ncost_weight = ")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_config(path)
    assert info.value.source == str(path)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "nope.toml")


def test_unknown_preset_lists_the_choices():
    with pytest.raises(ConfigError, match="balanced"):
        parse_config({"router": {"preset": "fastest"}})


def test_api_key_from_env_never_shows_in_config_repr(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAUDETTE_TEST_KEY", "sk-config-secret-999")
    config = load_config(write(tmp_path, GOOD))
    assert "sk-config-secret-999" not in repr(config)


class FakePlugin:
    @hookimpl
    def claudette_register_backends(self, registry):
        registry.register("fake", FakeBackend, defaults=BackendSettings(model="fake-1"))


def test_two_backends_can_share_one_plugin(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAUDETTE_TEST_KEY", "sk-x-1234567")
    pm = ClaudettePlugins(autoload=False, plugins=[FakePlugin()])
    router = router_from_config(load_config(write(tmp_path, GOOD)), plugins=pm)
    assert sorted(router.backends) == ["local-a", "local-b"]
    assert router.get_backend("local-a").settings.model == "fake-1"
    assert router.get_backend("local-b").settings.base_url == "http://127.0.0.1:8082/v1"


def test_unknown_plugin_in_config_is_reported_for_every_backend(tmp_path):
    pm = ClaudettePlugins(autoload=False)
    config = parse_config({"backends": {"a": {"plugin": "nope"}, "b": {"plugin": "nada"}}}, "c.toml")
    with pytest.raises(ConfigError) as info:
        router_from_config(config, plugins=pm)
    assert [p.path for p in info.value.problems] == ["backends.a.plugin", "backends.b.plugin"]
    assert "claudette-backend-nope" in str(info.value)


def test_config_lookup_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLAUDETTE_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert find_config() is None
    user = tmp_path / "xdg" / "claudette" / "claudette.toml"
    user.parent.mkdir(parents=True)
    user.write_text("")
    assert find_config() == user
    local = write(tmp_path, "")
    assert find_config() == local
    env_file = tmp_path / "env.toml"
    env_file.write_text("")
    monkeypatch.setenv("CLAUDETTE_CONFIG", str(env_file))
    assert find_config() == env_file
    with pytest.raises(ConfigError, match="no such file"):
        find_config(str(tmp_path / "missing.toml"))
