"""A broken plugin among the four real ones: isolated, reported, and the others keep routing.

Registration-time failures of one plugin alone are covered by ``tests/test_plugins.py``
and ``tests/test_discovery_install.py``; this is the same failure next to the four
provider plugins, plus observers that raise on every call, under faults.
"""

from __future__ import annotations

from _providers import NAMES
from claudette import ClaudetteRequest
from claudette.hookspecs import hookimpl
from claudette.plugins import ClaudettePlugins
from claudette.router import BackendRouter
from claudette.types import RouterOptions
from claudette_backend_claude import plugin as claude_plugin
from claudette_backend_ollama import plugin as ollama_plugin
from claudette_backend_openai import plugin as openai_plugin
from claudette_backend_qwen import plugin as qwen_plugin


class BrokenRegistration:
    """Raises while registering its backend (an SDK import failing, say)."""

    @hookimpl
    def claudette_register_backends(self, registry):
        raise ImportError("No module named 'vendor_sdk'")


class RaisingObserver:
    """Raises in every observer hook."""

    @hookimpl
    def claudette_after_attempt(self, backend, request, response, error, latency_ms):
        raise RuntimeError("observer bug")

    @hookimpl
    def claudette_breaker_transition(self, backend_name, old_state, new_state):
        raise RuntimeError("observer bug")

    @hookimpl
    def claudette_request_start(self, context):
        raise RuntimeError("observer bug")

    @hookimpl
    def claudette_request_end(self, context, response, error):
        raise RuntimeError("observer bug")


async def test_a_broken_plugin_next_to_the_four_providers_stops_nothing(providers):
    manager = ClaudettePlugins(autoload=False)
    manager.register(BrokenRegistration(), name="broken")
    for module in (openai_plugin, claude_plugin, qwen_plugin, ollama_plugin):
        manager.register(module)
    manager.register(RaisingObserver(), name="raising-observer")
    assert [f.plugin for f in manager.failures] == ["broken"]
    assert "vendor_sdk" in str(manager.failures[0])
    assert {r.name for r in manager.registry.list()} >= set(NAMES)

    router = BackendRouter(RouterOptions(health_checks=False, max_attempts=4), plugins=manager)
    for name in NAMES:
        router.register_backend(manager.registry.create(name, providers[name].settings(), instance_name=name))
    providers["openai"].script(["http_500"])  # observers fire on an error too
    providers["claude"].script(["http_500"])
    try:
        answers = [await router.route_request(ClaudetteRequest(prompt=f"req-{i} hi")) for i in range(8)]
    finally:
        await router.aclose()
    failed_attempts = sum(s["failures"] for s in router.stats()["backends"].values())
    assert len(answers) == 8 and router.counters.failures == 0
    assert router.counters.attempts == 8 + failed_attempts


def test_a_broken_plugin_given_to_the_constructor_does_not_stop_it():
    manager = ClaudettePlugins(autoload=False, plugins=[BrokenRegistration(), openai_plugin, ollama_plugin])
    assert [f.plugin for f in manager.failures] == [manager.failures[0].plugin]
    assert "vendor_sdk" in str(manager.failures[0])
    assert {"openai", "ollama"} <= {r.name for r in manager.registry.list()}
