"""The plugin manager: hooks, internal defaults, isolation of broken plugins, blocking."""

from __future__ import annotations

import pytest
from _support import FakeBackend
from claudette import BackendSettings, BreakerPolicy, PluginError, hookimpl
from claudette.plugins import BackendPluginRegistry, ClaudettePlugins


class Registers:
    @hookimpl
    def claudette_register_backends(self, registry):
        registry.register("fake", FakeBackend, defaults=BackendSettings(model="m-default", cost_per_token=0.0))


def test_internal_defaults_implement_scoring_and_breaker_policy():
    pm = ClaudettePlugins(autoload=False)
    assert pm.hook_order("claudette_score_backend") == ["claudette-internal-scoring"]
    assert pm.breaker_policy(FakeBackend("a")) == BreakerPolicy()


def test_registry_creates_backends_with_plugin_defaults():
    pm = ClaudettePlugins(autoload=False, plugins=[Registers()])
    backend = pm.registry.create("fake", BackendSettings(), instance_name="mine")
    assert backend.name == "mine"
    assert backend.settings.model == "m-default"
    assert [r.name for r in pm.registry.list()] == ["fake"]


def test_registry_rejects_a_name_taken_by_another_class():
    registry = BackendPluginRegistry()
    registry.register("x", FakeBackend)

    class Other(FakeBackend):
        pass

    with pytest.raises(PluginError, match="already registered"):
        registry.register("x", Other)


def test_registry_rejects_non_backend_classes():
    with pytest.raises(PluginError, match="not a BaseBackend subclass"):
        BackendPluginRegistry().register("x", dict)  # type: ignore[arg-type]


def test_unknown_backend_name_suggests_the_package():
    with pytest.raises(PluginError, match="claudette-backend-nope"):
        BackendPluginRegistry().get("nope")


def test_misspelled_hook_is_reported_not_ignored():
    class Typo:
        @hookimpl
        def claudette_score_backends(self, backend):
            return 0.0

    pm = ClaudettePlugins(autoload=False)
    pm.register(Typo(), name="typo")
    assert not pm.pm.has_plugin("typo")
    assert [f.plugin for f in pm.failures] == ["typo"]
    assert "unknown hook 'claudette_score_backends'" in str(pm.failures[0])


def test_plugin_raising_during_registration_is_isolated():
    class Broken:
        @hookimpl
        def claudette_register_backends(self, registry):
            raise RuntimeError("boom at import of my SDK")

    pm = ClaudettePlugins(autoload=False)
    pm.pm.register(Registers(), name="good")
    pm.pm.register(Broken(), name="broken")
    pm._register_backends()
    assert "fake" in pm.registry
    assert [f.plugin for f in pm.failures] == ["broken"]
    assert "boom at import" in str(pm.failures[0])


def test_later_registered_firstresult_plugin_runs_first():
    class A:
        @hookimpl
        def claudette_score_backend(self, backend, request, stats, options):
            return None

    class B:
        @hookimpl
        def claudette_score_backend(self, backend, request, stats, options):
            return None

    pm = ClaudettePlugins(autoload=False)
    pm.register(A(), name="a")
    pm.register(B(), name="b")
    assert pm.hook_order("claudette_score_backend") == ["b", "a", "claudette-internal-scoring"]


def test_breaker_policy_plugin_wins_over_the_default():
    strict = BreakerPolicy(failure_threshold=1, reset_timeout=1)

    class Strict:
        @hookimpl
        def claudette_breaker_policy(self, backend):
            return strict

    pm = ClaudettePlugins(autoload=False, plugins=[Strict()])
    assert pm.breaker_policy(FakeBackend("a")) is strict


def test_plugin_infos_list_hooks_per_plugin():
    pm = ClaudettePlugins(autoload=False, plugins=[Registers()])
    infos = {i.name: i for i in pm.plugin_infos()}
    assert infos["claudette-internal-scoring"].distribution == "claudette-core"
    assert any(i.hooks == ("claudette_register_backends",) for i in infos.values())


def test_blocked_plugin_names_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CLAUDETTE_BLOCK_PLUGINS", "openai, claude")
    pm = ClaudettePlugins(autoload=False)
    assert pm.pm.is_blocked("openai") and pm.pm.is_blocked("claude")
    assert not pm.pm.is_blocked("ollama")


def test_per_request_facts_follow_plugins_registered_even_through_pluggy():
    class Observer:
        @hookimpl
        def claudette_after_attempt(self, backend, request, response, error, latency_ms):
            pass

    class Scorer:
        @hookimpl
        def claudette_score_backend(self, backend, request, stats, options):
            return 1.0

    plugins = ClaudettePlugins(autoload=False)
    assert not plugins.has_attempt_observers
    assert not plugins.has_request_processors
    lone = plugins.scorer()
    assert lone is not plugins.score_backend  # the built-in scorer itself, no dispatch

    observer = Observer()
    plugins.pm.register(observer)  # straight through pluggy, not ClaudettePlugins.register
    assert plugins.has_attempt_observers
    plugins.pm.unregister(observer)
    assert not plugins.has_attempt_observers

    plugins.register(Scorer(), name="scorer")
    assert plugins.scorer() == plugins.score_backend  # two scorers: pluggy dispatches
    plugins.unregister("scorer")
    assert plugins.scorer() is lone
