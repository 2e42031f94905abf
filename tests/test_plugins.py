"""The plugin manager: hooks, internal defaults, isolation of broken plugins, blocking."""

from __future__ import annotations

import logging
import re
import types

import attrs
import pluggy
import pytest
from _support import FakeBackend
from claudette import (
    BackendSettings,
    BreakerPolicy,
    ClaudetteRequest,
    PluginError,
    RouterOptions,
    hookimpl,
)
from claudette.plugins import BackendPluginRegistry, ClaudettePlugins
from claudette.scoring import score_parts


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


class Broken:
    """Raises while registering its backends (its SDK fails to import, say)."""

    @hookimpl
    def claudette_register_backends(self, registry):
        raise RuntimeError("boom at import of my SDK")


def test_plugin_raising_during_registration_is_isolated():
    def claudette_register_backends(registry):
        raise RuntimeError("boom at import of my SDK")

    broken = types.ModuleType("broken_sdk")  # a module is registered under its own name
    broken.claudette_register_backends = hookimpl(claudette_register_backends)  # type: ignore[attr-defined]

    pm = ClaudettePlugins(autoload=False, plugins=[Registers(), broken])  # broken is called first

    assert "fake" in pm.registry
    assert [f.plugin for f in pm.failures] == ["broken_sdk"]
    assert "boom at import" in str(pm.failures[0])
    assert not pm.pm.has_plugin("broken_sdk")  # failed to load: none of its hooks run


def test_plugin_registered_later_raising_during_registration_is_isolated():
    pm = ClaudettePlugins(autoload=False)
    good = pm.register(Registers(), name="good")
    broken = pm.register(Broken(), name="broken")

    assert (good, broken) == ("good", None)
    assert "fake" in pm.registry
    assert [f.plugin for f in pm.failures] == ["broken"]
    assert not pm.pm.has_plugin("broken")


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

    class Processor:
        @hookimpl
        def claudette_postprocess_response(self, response):
            return None

    plugins = ClaudettePlugins(autoload=False)
    assert not plugins.has_attempt_observers
    assert not plugins.has_request_processors

    observer, processor = Observer(), Processor()
    plugins.pm.register(observer)  # straight through pluggy, not ClaudettePlugins.register
    plugins.pm.register(processor)
    assert plugins.has_attempt_observers
    assert plugins.has_request_processors
    plugins.pm.unregister(observer)
    plugins.pm.unregister(processor)
    assert not plugins.has_attempt_observers
    assert not plugins.has_request_processors


# -- dispatch through pluggy -----------------------------------------------------------------


class Tag:
    """Appends its tag to the prompt, through the request chain."""

    def __init__(self, tag):
        self.tag = tag

    @hookimpl
    def claudette_preprocess_request(self, request):
        return attrs.evolve(request, prompt=f"{request.prompt}+{self.tag}")


def test_chain_follows_plugins_registered_and_removed_between_calls():
    plugins = ClaudettePlugins(autoload=False, plugins=[Tag("a")])
    backend = FakeBackend("x")
    assert plugins.preprocess_request(ClaudetteRequest(prompt="hi"), backend).prompt == "hi+a"

    plugins.register(Tag("b"), name="b")
    assert plugins.preprocess_request(ClaudetteRequest(prompt="hi"), backend).prompt == "hi+b+a"

    plugins.unregister("b")
    assert plugins.preprocess_request(ClaudetteRequest(prompt="hi"), backend).prompt == "hi+a"


@pytest.mark.parametrize("hook", ["claudette_after_attempt", "claudette_breaker_transition"])
def test_a_failing_observer_is_logged_by_name_and_the_others_still_run(hook, caplog):
    seen = []

    class Failing:
        @hookimpl(tryfirst=True)  # called before the other one
        def claudette_after_attempt(self):
            raise RuntimeError("observer bug")

        @hookimpl(tryfirst=True)
        def claudette_breaker_transition(self):
            raise RuntimeError("observer bug")

    class Recording:
        @hookimpl
        def claudette_after_attempt(self, latency_ms):
            seen.append(latency_ms)

        @hookimpl
        def claudette_breaker_transition(self, new_state):
            seen.append(new_state)

    plugins = ClaudettePlugins(autoload=False)
    plugins.register(Recording(), name="recording")
    plugins.register(Failing(), name="failing")
    assert plugins.hook_order(hook)[0] == "failing"

    with caplog.at_level(logging.ERROR, logger="claudette"):
        if hook == "claudette_after_attempt":
            plugins.after_attempt(FakeBackend("x"), ClaudetteRequest(prompt="hi"), None, None, 12.0)
        else:
            plugins.breaker_transition("x", "closed", "open")

    assert seen == ([12.0] if hook == "claudette_after_attempt" else ["open"])
    assert [r.getMessage() for r in caplog.records] == [f"observer 'failing' failed in {hook}"]


def test_a_wrapper_of_the_firstresult_scoring_hook_wraps_the_others():
    class Surcharge:
        @hookimpl(wrapper=True)
        def claudette_score_backend(self, backend):
            score = yield  # what the other implementations decided: the built-in formula here
            return score + 1.0 if backend.name == "dear" else score

    plugins = ClaudettePlugins(autoload=False, plugins=[Surcharge()])
    request, options = ClaudetteRequest(prompt="hi"), RouterOptions()
    dear, cheap = FakeBackend("dear"), FakeBackend("cheap")
    builtin = score_parts(dear, request, dear.stats, options).total

    assert plugins.score_backend(dear, request, dear.stats, options) == pytest.approx(builtin + 1.0)
    assert plugins.score_backend(cheap, request, cheap.stats, options) == pytest.approx(builtin)


def test_an_old_style_wrapper_of_the_breaker_policy_sees_the_chosen_policy():
    chosen = []

    class Audit:
        @hookimpl(hookwrapper=True)
        def claudette_breaker_policy(self, backend):
            outcome = yield
            chosen.append((backend.name, outcome.get_result()))

    plugins = ClaudettePlugins(autoload=False, plugins=[Audit()])

    assert plugins.breaker_policy(FakeBackend("x")) == BreakerPolicy()
    assert chosen == [("x", BreakerPolicy())]


class WrapsPreprocess:
    @hookimpl(wrapper=True)
    def claudette_preprocess_request(self, request):
        return (yield)


def test_a_wrapper_of_a_chain_hook_is_refused_with_a_plugin_error_naming_it():
    plugins = ClaudettePlugins(autoload=False)

    with pytest.raises(PluginError) as refused:
        plugins.register(WrapsPreprocess(), name="wraps")

    assert refused.value.plugin == "wraps"
    assert "plugin 'wraps'" in str(refused.value)
    assert "claudette_preprocess_request is called one plugin at a time" in str(refused.value)
    assert "a wrapper (wrapper=True) is not supported there" in str(refused.value)
    assert not plugins.pm.has_plugin("wraps")
    assert not plugins.has_request_processors  # nothing of it stays registered


def test_a_wrapper_given_to_the_constructor_is_refused():
    with pytest.raises(PluginError, match=r"claudette_preprocess_request .* wrapper"):
        ClaudettePlugins(autoload=False, plugins=[WrapsPreprocess()])


@pytest.mark.parametrize(
    ("hook", "marker", "what"),
    [
        ("claudette_after_attempt", {"hookwrapper": True}, "an old-style wrapper (hookwrapper=True)"),
        ("claudette_breaker_transition", {"wrapper": True}, "a wrapper (wrapper=True)"),
        ("claudette_register_backends", {"wrapper": True}, "a wrapper (wrapper=True)"),
        ("claudette_postprocess_response", {"specname": "claudette_postprocess_response"},
         "an implementation under another name"),
    ],
)
def test_hooks_called_per_plugin_refuse_wrappers_even_straight_through_pluggy(hook, marker, what):
    def implementation(**kwargs):
        yield

    plugin = types.ModuleType("odd")
    setattr(plugin, "odd_name" if "specname" in marker else hook, hookimpl(**marker)(implementation))
    plugins = ClaudettePlugins(autoload=False)

    with pytest.raises(pluggy.PluginValidationError, match=re.escape(what)):
        plugins.pm.register(plugin)

    assert not plugins.pm.is_registered(plugin)
    assert plugins.hook_order(hook) == []


def test_an_implementation_not_fitting_its_spec_is_a_plugin_error_naming_the_plugin():
    class Misspelled:
        @hookimpl
        def claudette_breaker_policy(self, backend, options):  # the hook takes no options
            return None

    plugins = ClaudettePlugins(autoload=False)

    with pytest.raises(PluginError, match=r"^plugin 'misspelled': invalid hook implementation") as refused:
        plugins.register(Misspelled(), name="misspelled")
    assert "{'options'} are declared in the hookimpl but can not be found" in str(refused.value)
    assert not plugins.pm.has_plugin("misspelled")


def test_an_installed_wrapper_of_a_chain_hook_is_a_reported_failure(tmp_path, monkeypatch):
    monkeypatch.delenv("CLAUDETTE_BLOCK_PLUGINS", raising=False)
    monkeypatch.delenv("CLAUDETTE_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    (tmp_path / "acme_wraps.py").write_text(
        "from claudette import hookimpl\n\n"
        "@hookimpl(wrapper=True)\n"
        "def claudette_preprocess_request(request):\n"
        "    return (yield)\n"
    )
    info = tmp_path / "claudette_acme_wraps-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: claudette-acme-wraps\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[claudette.backends]\nacme-wraps = acme_wraps\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    plugins = ClaudettePlugins(plugins=[Registers()])  # the host starts

    ours = [f for f in plugins.failures if f.plugin == "acme-wraps"]
    assert [(f.distribution, "wrapper=True" in str(f)) for f in ours] == [("claudette-acme-wraps", True)]
    assert not plugins.pm.has_plugin("acme-wraps")
    assert "fake" in plugins.registry  # the others still load
