"""The metrics after scripted runs, scraped from the exposition and checked value by value."""

from __future__ import annotations

import subprocess
import sys

import pytest
from claudette import BreakerPolicy, ClaudettePlugins, ClaudetteRequest
from claudette.testing.ordering import BreakAfter
from claudette_backend_ollama.testing import OllamaEmulator, OllamaFault
from prometheus_client import REGISTRY, CollectorRegistry

import claudette_prometheus.plugin
from claudette_prometheus import CONTENT_TYPE, METRICS, ClaudetteMetrics
from conftest import MakeRouter, labels, scrape

MODEL = "qwen2.5:7b"


async def test_two_successes_one_fallback_and_one_breaker_opening_are_counted_exactly(
    make_router: MakeRouter, first: OllamaEmulator, metrics: ClaudetteMetrics
) -> None:
    router = make_router(BreakAfter(1))
    await router.route_request(ClaudetteRequest(prompt="hi"))  # a answers
    first.fail_always(OllamaFault.status_error(500))
    await router.route_request(ClaudetteRequest(prompt="hi"))  # a fails and opens; b answers

    found = scrape(metrics)
    counted = {
        key: value for key, value in found.items()
        if key[0].endswith(("_total", "_count")) or key[0] in ("claudette_breaker_state", "claudette_requests_in_flight")
    }
    assert counted == {
        ("claudette_requests_total", labels(backend="a", outcome="success")): 1,
        ("claudette_requests_total", labels(backend="b", outcome="success")): 1,
        ("claudette_requests_in_flight", labels()): 0,
        ("claudette_request_duration_seconds_count", labels(backend="a")): 1,
        ("claudette_request_duration_seconds_count", labels(backend="b")): 1,
        ("claudette_attempts_total", labels(backend="a", outcome="success")): 1,
        ("claudette_attempts_total", labels(backend="a", outcome="BackendUnavailableError")): 1,
        ("claudette_attempts_total", labels(backend="b", outcome="success")): 1,
        ("claudette_attempt_duration_seconds_count", labels(backend="a")): 2,
        ("claudette_attempt_duration_seconds_count", labels(backend="b")): 1,
        ("claudette_fallbacks_total", labels(backend="a")): 1,
        ("claudette_breaker_transitions_total", labels(backend="a", state="open")): 1,
        ("claudette_breaker_state", labels(backend="a", claudette_breaker_state="open")): 1,
        ("claudette_breaker_state", labels(backend="a", claudette_breaker_state="closed")): 0,
        ("claudette_breaker_state", labels(backend="a", claudette_breaker_state="half_open")): 0,
        ("claudette_breaker_state", labels(backend="b", claudette_breaker_state="closed")): 1,
        ("claudette_breaker_state", labels(backend="b", claudette_breaker_state="open")): 0,
        ("claudette_breaker_state", labels(backend="b", claudette_breaker_state="half_open")): 0,
        ("claudette_tokens_total", labels(backend="a", model=MODEL, type="input")): 11,
        ("claudette_tokens_total", labels(backend="a", model=MODEL, type="output")): 2,
        ("claudette_tokens_total", labels(backend="b", model=MODEL, type="input")): 7,
        ("claudette_tokens_total", labels(backend="b", model=MODEL, type="output")): 4,
        ("claudette_cost_eur_total", labels(backend="a", model=MODEL)): pytest.approx(13e-6),
        ("claudette_cost_eur_total", labels(backend="b", model=MODEL)): pytest.approx(11e-6),
    }
    assert router.counters.fallbacks == 1  # the router's own count agrees


async def test_at_the_default_policy_the_breaker_opens_on_the_failure_that_trips_it(
    make_router: MakeRouter, first: OllamaEmulator, metrics: ClaudetteMetrics
) -> None:
    first.fail_always(OllamaFault.status_error(500))
    router = make_router()
    threshold = BreakerPolicy().failure_threshold

    for _ in range(threshold + 1):
        await router.route_request(ClaudetteRequest(prompt="hi"))

    found = scrape(metrics)
    assert found[("claudette_requests_total", labels(backend="b", outcome="success"))] == threshold + 1
    assert found[("claudette_attempts_total", labels(backend="a", outcome="BackendUnavailableError"))] == threshold
    assert found[("claudette_fallbacks_total", labels(backend="a"))] == threshold
    assert found[("claudette_breaker_transitions_total", labels(backend="a", state="open"))] == 1
    assert found[("claudette_breaker_state", labels(backend="a", claudette_breaker_state="open"))] == 1


async def test_a_request_no_backend_answers_is_counted_under_none(
    make_router: MakeRouter, first: OllamaEmulator, second: OllamaEmulator, metrics: ClaudetteMetrics
) -> None:
    first.fail_always(OllamaFault.status_error(500))
    second.fail_always(OllamaFault.model_not_found(MODEL))
    router = make_router()

    with pytest.raises(Exception):  # noqa: B017 - the metrics are what is checked
        await router.route_request(ClaudetteRequest(prompt="hi"))

    found = scrape(metrics)
    assert found[("claudette_requests_total", labels(backend="none", outcome="error"))] == 1
    assert found[("claudette_attempts_total", labels(backend="b", outcome="InvalidRequestError"))] == 1
    assert found[("claudette_fallbacks_total", labels(backend="a"))] == 1
    assert ("claudette_tokens_total", labels(backend="b", model=MODEL, type="input")) not in found


async def test_a_stream_records_its_time_to_first_chunk(
    make_router: MakeRouter, metrics: ClaudetteMetrics
) -> None:
    router = make_router()

    chunks = [c async for c in router.stream(ClaudetteRequest(prompt="hi"))]

    assert chunks[-1].response is not None
    found = scrape(metrics)
    assert found[("claudette_time_to_first_chunk_seconds_count", labels(backend="a"))] == 1
    assert found[("claudette_requests_total", labels(backend="a", outcome="success"))] == 1
    assert found[("claudette_requests_in_flight", labels())] == 0


async def test_a_stream_the_reader_leaves_counts_as_cancelled(
    make_router: MakeRouter, metrics: ClaudetteMetrics
) -> None:
    router = make_router()
    stream = router.stream(ClaudetteRequest(prompt="hi"))
    await anext(stream)
    await stream.aclose()

    found = scrape(metrics)
    assert found[("claudette_requests_total", labels(backend="none", outcome="cancelled"))] == 1
    assert found[("claudette_requests_in_flight", labels())] == 0
    assert found[("claudette_time_to_first_chunk_seconds_count", labels(backend="a"))] == 1


def test_every_metric_of_the_table_is_exposed_with_its_help(metrics: ClaudetteMetrics) -> None:
    text = metrics.exposition().decode()

    for name, kind, _, help_text in METRICS:
        exposed = f"claudette_{name}_total" if kind == "counter" else f"claudette_{name}"
        assert f"# HELP {exposed} {help_text}" in text
        assert f"# TYPE {exposed} {kind}" in text
    assert CONTENT_TYPE.startswith("text/plain")


def test_a_namespace_and_a_second_registry_keep_metrics_apart() -> None:
    registry = CollectorRegistry()
    ClaudetteMetrics(registry)
    other = ClaudetteMetrics(registry, namespace="edge")

    assert b"edge_requests_total" not in ClaudetteMetrics(CollectorRegistry()).exposition()
    assert b"# TYPE edge_requests_total counter" in other.exposition()
    with pytest.raises(ValueError, match="Duplicated"):
        ClaudetteMetrics(registry)


async def test_the_entry_point_module_counts_on_the_default_registry(make_router: MakeRouter) -> None:
    def answered() -> float:
        value = REGISTRY.get_sample_value("claudette_requests_total", {"backend": "a", "outcome": "success"})
        return value or 0.0

    before = answered()
    router = make_router(observer=claudette_prometheus.plugin)

    await router.route_request(ClaudetteRequest(prompt="hi"))

    assert answered() == before + 1


def test_the_plugin_implements_the_observer_hooks_and_loads_cleanly(metrics: ClaudetteMetrics) -> None:
    manager = ClaudettePlugins(autoload=False, plugins=[metrics, claudette_prometheus.plugin])

    assert manager.failures == []
    hooks = [i.hooks for i in manager.plugin_infos() if "claudette_request_start" in i.hooks]
    assert hooks == [(
        "claudette_after_attempt",
        "claudette_breaker_transition",
        "claudette_request_end",
        "claudette_request_start",
    )] * 2


def test_the_installed_package_is_discovered_through_its_entry_point() -> None:
    manager = ClaudettePlugins()

    infos = {i.name: i for i in manager.plugin_infos()}
    assert infos["prometheus"].distribution == "claudette-prometheus"
    assert "claudette_request_end" in infos["prometheus"].hooks
    assert manager.failures == []


def test_importing_claudette_loads_no_prometheus_client() -> None:
    code = "import sys, claudette; print(sorted(m for m in sys.modules if m.startswith(('prometheus_client', 'claudette_prometheus'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_loading_the_plugin_registers_nothing_until_it_counts() -> None:
    code = (
        "from claudette import ClaudettePlugins; from prometheus_client import REGISTRY;"
        "ClaudettePlugins();"
        "print(REGISTRY.get_sample_value('claudette_requests_in_flight'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None"
