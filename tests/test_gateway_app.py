"""The gateway's ASGI application in-process (no server): routes, /metrics, the router used."""

from __future__ import annotations

import httpx
from _support import FakeBackend, make_router
from claudette.gateway.app import GatewayApp


async def _call(app: GatewayApp, method: str, path: str, **kw) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        return await client.request(method, path, **kw)


async def test_metrics_are_served_from_the_exposition_given():
    router = make_router(FakeBackend("a"))
    app = GatewayApp(router=router, metrics=lambda: (b"text/plain; version=0.0.4", b"claudette_requests_total 3\n"))
    response = await _call(app, "GET", "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4"
    assert response.text == "claudette_requests_total 3\n"
    await router.aclose()


async def test_without_an_exposition_metrics_answer_404_naming_the_plugin():
    router = make_router(FakeBackend("a"))
    response = await _call(GatewayApp(router=router), "GET", "/metrics")
    assert response.status_code == 404
    assert "claudette-prometheus" in response.json()["error"]["message"]
    await router.aclose()


async def test_a_completion_goes_through_the_router_given():
    router = make_router(FakeBackend("a"), FakeBackend("b"))
    body = {"model": "b", "messages": [{"role": "user", "content": "hi"}]}
    response = await _call(GatewayApp(router=router), "POST", "/v1/chat/completions", json=body)
    assert response.status_code == 200
    assert response.headers["x-claudette-backend"] == "b"
    assert response.json()["choices"][0]["message"]["content"] == "answer from b"
    await router.aclose()
