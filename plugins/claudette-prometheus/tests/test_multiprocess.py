"""The metrics in prometheus-client's multiprocess mode, as ``claudette serve --workers N`` runs them.

Each counting process is a fresh interpreter with ``PROMETHEUS_MULTIPROC_DIR`` set before
prometheus-client is imported (the mode is chosen at import); the scrape aggregates their
files with ``MultiProcessCollector``, as the gateway's ``/metrics`` does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from claudette_backend_ollama.testing import OllamaEmulator, OllamaFault
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.parser import text_string_to_metric_families

from conftest import labels

MODEL = "qwen2.5:7b"
#: One process: a router over ``a`` (tried first) and ``b`` counting on the installed entry
#: point's default registry; ``a``'s breaker opens on its first failure. Prints its pid.
COUNT = """
import asyncio, os, sys
sys.path.insert(0, sys.argv[1])
from claudette import BackendSettings, ClaudetteRequest
from claudette.testing.pytest_plugin import build_router
from claudette_backend_ollama import OllamaBackend
import claudette_prometheus.plugin
from claudette.testing.ordering import BreakAfter, ByPriority

async def main(a_url, b_url, requests):
    backends = [
        OllamaBackend(name, BackendSettings(base_url=url, model="qwen2.5:7b", priority=p, cost_per_token=1e-6))
        for name, url, p in (("a", a_url, 1), ("b", b_url, 2))
    ]
    async with build_router(*backends, plugins=[claudette_prometheus.plugin, ByPriority(), BreakAfter(1)]) as router:
        for _ in range(requests):
            await router.route_request(ClaudetteRequest(prompt="hi"))
    print(os.getpid())

asyncio.run(main(sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""


def _count(directory: Path, a_url: str, b_url: str, requests: int) -> int:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    env.pop("prometheus_multiproc_dir", None)
    tests = str(Path(__file__).parent)
    done = subprocess.run(
        [sys.executable, "-c", COUNT, tests, a_url, b_url, str(requests)],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


def _aggregate(directory: Path) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for sample in family.samples
    }


def test_two_processes_count_into_one_exposition(
    tmp_path: Path, first: OllamaEmulator, second: OllamaEmulator
) -> None:
    first.fail_always(OllamaFault.status_error(500))
    pids = [_count(tmp_path, first.url, second.url, 3), _count(tmp_path, first.url, second.url, 2)]
    assert len(set(pids)) == 2 and any(tmp_path.iterdir())

    found = _aggregate(tmp_path)
    # Each process: a fails once and opens, b answers every request.
    assert found[("claudette_requests_total", labels(backend="b", outcome="success"))] == 5
    assert found[("claudette_request_duration_seconds_count", labels(backend="b"))] == 5
    assert found[("claudette_attempts_total", labels(backend="a", outcome="BackendUnavailableError"))] == 2
    assert found[("claudette_attempts_total", labels(backend="b", outcome="success"))] == 5
    assert found[("claudette_fallbacks_total", labels(backend="a"))] == 2
    assert found[("claudette_breaker_transitions_total", labels(backend="a", state="open"))] == 2
    assert found[("claudette_tokens_total", labels(backend="b", model=MODEL, type="input"))] == 5 * 7
    assert found[("claudette_tokens_total", labels(backend="b", model=MODEL, type="output"))] == 5 * 4
    assert found[("claudette_cost_eur_total", labels(backend="b", model=MODEL))] == pytest.approx(5 * 11e-6)
    # The breaker state is one value per backend and state (the latest set), not a sum.
    assert found[("claudette_breaker_state", labels(backend="a", claudette_breaker_state="open"))] == 1
    assert found[("claudette_breaker_state", labels(backend="a", claudette_breaker_state="closed"))] == 0
    assert found[("claudette_breaker_state", labels(backend="b", claudette_breaker_state="closed"))] == 1
    assert found[("claudette_requests_in_flight", labels())] == 0

    for pid in pids:  # what a server does when a worker exits: its live gauges go
        mark_process_dead(pid, str(tmp_path))
    found = _aggregate(tmp_path)
    assert ("claudette_requests_in_flight", labels()) not in found
    assert found[("claudette_requests_total", labels(backend="b", outcome="success"))] == 5
