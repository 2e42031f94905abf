"""GET /metrics: the router's Prometheus metrics, as claudette-prometheus counts them."""

from __future__ import annotations

import httpx
import openai
from _gateway import CLAUDE_KEY, OPENAI_KEY
from claudette_backend_openai.testing import ChatFault
from prometheus_client.parser import text_string_to_metric_families

HELLO = [{"role": "user", "content": "count me"}]


def _samples(gateway) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(gateway.url + "/metrics")
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
