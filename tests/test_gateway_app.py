"""The gateway's ASGI application in-process (no server): routes, /metrics, the router used."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
from _support import FakeBackend, make_router
from claudette.gateway.app import GatewayApp
from claudette.types import StreamChunk


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


class _StallsAfterOneChunk(FakeBackend):
    """Streams one chunk, then waits for ever; answers nothing when not streamed."""

    async def send(self, request):
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def stream(self, request):
        yield StreamChunk("first words", self.name)
        await asyncio.Event().wait()


async def _cancelled_mid_call(app: GatewayApp, body: dict, started: Callable[[list[dict]], bool]) -> list[dict]:
    """The messages the app sends for ``body`` when the server cancels it once ``started``
    says so, as a server does at the end of its grace period."""
    data = json.dumps(body).encode()
    sent: list[dict] = []
    never = asyncio.Event()
    requests = [{"type": "http.request", "body": data, "more_body": False}]

    async def receive() -> dict:
        if requests:
            return requests.pop()
        await never.wait()  # the client stays
        raise AssertionError("unreachable")

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": []}
    task = asyncio.ensure_future(app(scope, receive, send))
    for _ in range(200):
        await asyncio.sleep(0.005)
        if started(sent):
            break
    task.cancel()
    await task  # the app answers the cancellation itself and ends
    return sent


async def test_a_request_the_server_cancels_ends_in_a_503_to_retry():
    router = make_router(_StallsAfterOneChunk("a"))
    body = {"model": "a", "messages": [{"role": "user", "content": "hi"}]}
    sent = await _cancelled_mid_call(GatewayApp(router=router), body, lambda sent: router.backends["a"].stats.in_flight == 1)
    start, reply = sent
    assert start["status"] == 503
    error = json.loads(reply["body"])["error"]
    assert error["code"] == "server_stopping" and error["type"] == "service_unavailable"
    await router.aclose()


async def test_a_stream_the_server_cancels_ends_with_an_error_event():
    router = make_router(_StallsAfterOneChunk("a"))
    body = {"model": "a", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    sent = await _cancelled_mid_call(GatewayApp(router=router), body, lambda sent: len(sent) >= 2)
    assert sent[0]["status"] == 200
    assert b"first words" in sent[1]["body"]
    last = sent[-1]
    assert not last.get("more_body", False)  # the reply is complete
    event = json.loads(last["body"].decode().removeprefix("data: ").strip())
    assert event["error"]["code"] == "server_stopping"
    await router.aclose()
