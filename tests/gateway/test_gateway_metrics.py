"""GET /metrics: the router's Prometheus metrics, as claudette-prometheus counts them."""

from __future__ import annotations

import json

import httpx
import openai
from _gateway import CLAUDE_KEY, OPENAI_KEY, claude_backend, connections_by_worker, openai_backend
from claudette_backend_openai.testing import ChatFault
from prometheus_client.parser import text_string_to_metric_families

HELLO = [{"role": "user", "content": "count me"}]


def _samples(gateway, client: httpx.Client | None = None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = (client or httpx).get(gateway.url + "/metrics", headers={"connection": "close"} if client is None else None)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert OPENAI_KEY not in response.text and CLAUDE_KEY not in response.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def test_metrics_count_requests_attempts_fallbacks_tokens_and_cost(gateway, openai_emulator):
    client = openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)
    before = _samples(gateway)
    openai_emulator.script(ChatFault.server_error())
    client.chat.completions.create(model="auto", messages=HELLO)  # openai fails, claude answers
    client.chat.completions.create(model="auto", messages=HELLO)  # openai answers
    after = _samples(gateway)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("claudette_requests_total", backend="claude", outcome="success") == 1
    assert grew("claudette_requests_total", backend="openai", outcome="success") == 1
    assert grew("claudette_attempts_total", backend="openai", outcome="success") == 1
    assert grew("claudette_attempts_total", backend="openai", outcome="BackendUnavailableError") == 1
    assert grew("claudette_fallbacks_total", backend="openai") == 1
    assert grew("claudette_tokens_total", backend="openai", model="gpt-4o-mini", type="output") > 0
    assert grew("claudette_cost_eur_total", backend="openai", model="gpt-4o-mini") > 0
    assert grew("claudette_request_duration_seconds_count", backend="openai") == 1
    assert after[("claudette_breaker_state", (("backend", "openai"), ("claudette_breaker_state", "closed")))] == 1


def test_with_two_workers_every_scrape_counts_every_workers_requests(
    start_gateway, openai_emulator, claude_emulator, tmp_path
):
    requests = 24
    temp = tmp_path / "temp"
    temp.mkdir()
    gateway = start_gateway(
        {
            "backends.openai": openai_backend(openai_emulator.base_url),
            "backends.claude": claude_backend(claude_emulator.url),
        },
        "--workers",
        "2",
        env={"TMPDIR": str(temp)},
    )
    body = json.dumps({"model": "auto", "messages": HELLO})
    pinned = connections_by_worker(gateway)  # one connection to each worker, known by its pid
    try:
        for i in range(requests):  # half through each worker
            response = list(pinned.values())[i % 2].post("/v1/chat/completions", content=body)
            assert response.status_code == 200, response.text
        scrapes = [_samples(gateway, client) for client in pinned.values()]  # each worker answers one
        scrapes += [_samples(gateway) for _ in range(6)]  # a new connection each: either worker
    finally:
        for client in pinned.values():
            client.close()

    for found in scrapes:
        total = sum(v for (name, _), v in found.items() if name == "claudette_requests_total")
        assert total == requests
        assert found[("claudette_requests_total", (("backend", "openai"), ("outcome", "success")))] == requests
        assert found[("claudette_attempts_total", (("backend", "openai"), ("outcome", "success")))] == requests
        assert found[("claudette_requests_in_flight", ())] == 0
        assert found[("claudette_breaker_state", (("backend", "openai"), ("claudette_breaker_state", "closed")))] == 1
    # The parent made a private directory for the workers' values, and removes it on exit.
    (directory,) = temp.glob("claudette-metrics-*")
    assert any(directory.iterdir())
    assert gateway.stop() == 0
    assert not directory.exists()
