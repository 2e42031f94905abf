"""The gateway's ``/metrics`` serves what the installed plugin counts (the ASGI app driven in
process through httpx, the router over a loopback Ollama emulator)."""

from __future__ import annotations

import httpx
from claudette import BackendRouter, BackendSettings, ClaudettePlugins, RouterOptions
from claudette.gateway.app import GatewayApp
from claudette.gateway.metrics import prometheus_exposition
from claudette_backend_ollama import OllamaBackend
from claudette_backend_ollama.testing import OllamaEmulator
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

import claudette_prometheus.plugin
from claudette_prometheus import CONTENT_TYPE

CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


def answered_by(text: str, backend: str) -> float:
    """``claudette_requests_total{backend, outcome="success"}`` in an exposition."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "claudette_requests_total" and sample.labels == {
                "backend": backend, "outcome": "success",
            }:
                return sample.value
    return 0.0


async def test_the_gateway_serves_what_the_plugin_counted(first: OllamaEmulator) -> None:
    manager = ClaudettePlugins(autoload=False, plugins=[claudette_prometheus.plugin])
    router = BackendRouter(RouterOptions(health_checks=False), plugins=manager)
    router.register_backend(OllamaBackend("gw", BackendSettings(base_url=first.url, model="qwen2.5:7b")))
    before = REGISTRY.get_sample_value("claudette_requests_total", {"backend": "gw", "outcome": "success"})
    exposition = prometheus_exposition()
    assert exposition is not None  # the plugin is installed here

    transport = httpx.ASGITransport(app=GatewayApp(router=router, metrics=exposition))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        chat = await client.post("/v1/chat/completions", json=CHAT)
        metrics = await client.get("/metrics")
    await router.aclose()

    assert chat.status_code == 200, chat.text
    assert chat.json()["choices"][0]["message"]["content"] == "Hello there"
    assert metrics.status_code == 200
    assert metrics.headers["content-type"] == CONTENT_TYPE
    assert answered_by(metrics.text, "gw") == (before or 0.0) + 1
