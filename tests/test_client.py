"""A backend's own HTTP client: a plain ``httpx.AsyncClient`` configured from the settings.

Every test talks to a real server on loopback; none looks inside httpx. Each behaviour is
checked with both things that can carry a backend's HTTP (``http_client = "httpx"``, the
default, and ``"aiohttp"``) unless it belongs to one of them.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import httpx
import pytest
from _support import PlainBackend, clear_proxy_environment
from _tls import TLSServer
from claudette import BackendSettings
from claudette import backend as backend_module
from claudette.backend import DEFAULT_KEEPALIVE_CONNECTIONS, DEFAULT_MAX_CONNECTIONS
from claudette.testing import Fault, LoopbackServer, Reply
from claudette.types import HttpClient


@pytest.fixture(autouse=True)
def _no_proxy_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_proxy_environment(monkeypatch)


@pytest.fixture(params=["httpx", "aiohttp"])
def http_client(request: pytest.FixtureRequest) -> str:
    """Each of the backend's possible HTTP clients in turn."""
    return str(request.param)


def _settings(http_client: str, **settings: Any) -> BackendSettings:
    return BackendSettings(http_client=cast(HttpClient, http_client), **settings)


def _ok(_request: object) -> Reply:
    return Reply.json({"ok": True})


async def test_a_backends_own_client_is_a_plain_httpx_client_built_from_the_settings(http_client: str) -> None:
    backend = PlainBackend("p", _settings(http_client, base_url="http://127.0.0.1:9/v1", timeout=7.0, connect_timeout=2.0))
    client = backend.client
    try:
        assert type(client) is httpx.AsyncClient
        assert client is backend.client  # built once, then pooled
        assert str(client.base_url) == "http://127.0.0.1:9/v1/"
        assert (client.timeout.read, client.timeout.write, client.timeout.connect) == (7.0, 7.0, 2.0)
        assert client.follow_redirects is False
    finally:
        await backend.aclose()
    assert client.is_closed


async def test_an_injected_client_is_used_as_it_is() -> None:
    async with httpx.AsyncClient() as injected:
        backend = PlainBackend("p", BackendSettings(base_url="http://127.0.0.1:9/v1"), client=injected)
        assert backend.client is injected
        await backend.aclose()
        assert not injected.is_closed


async def test_the_settings_timeout_ends_a_hanging_request_with_an_error_naming_it(http_client: str) -> None:
    with LoopbackServer(lambda _r: Fault.hang(5.0)) as server:
        backend = PlainBackend("p", _settings(http_client, base_url=server.url, timeout=0.2))
        try:
            started = asyncio.get_running_loop().time()
            with pytest.raises(httpx.ReadTimeout) as caught:
                await backend.client.get("/slow")
            assert asyncio.get_running_loop().time() - started < 2.0
            assert caught.value.request.url == httpx.URL(server.url + "/slow")
        finally:
            await backend.aclose()


async def test_a_redirect_is_returned_not_followed(http_client: str) -> None:
    with LoopbackServer(_ok) as elsewhere:
        with LoopbackServer(lambda _r: Reply(307, {"location": elsewhere.url + "/stolen"})) as origin:
            backend = PlainBackend("p", _settings(http_client, base_url=origin.url))
            try:
                reply = await backend.client.post("/v1/chat", json={"q": 1})
            finally:
                await backend.aclose()
        assert reply.status_code == 307
        assert reply.headers["location"] == elsewhere.url + "/stolen"
        assert len(origin.requests) == 1
        assert elsewhere.requests == []


async def test_the_settings_default_headers_are_sent_with_every_request(http_client: str) -> None:
    with LoopbackServer(_ok) as server:
        backend = PlainBackend("p", _settings(http_client, base_url=server.url, headers={"x-team": "search"}))
        try:
            await backend.client.get("/a")
            await backend.client.post("/b", json={}, headers={"x-request": "2"})
        finally:
            await backend.aclose()
    first, second = server.requests
    assert first.headers["x-team"] == second.headers["x-team"] == "search"
    assert second.headers["x-request"] == "2"


async def test_a_proxy_from_the_environment_is_honoured(monkeypatch: pytest.MonkeyPatch, http_client: str) -> None:
    """A proxy httpx finds in the environment gets the request, host and all."""
    with LoopbackServer(lambda _r: Reply.json({"via": "proxy"})) as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        backend = PlainBackend("p", _settings(http_client, base_url="http://api.invalid/v1", timeout=5.0))
        try:
            reply = await backend.client.get("/v1/models")
        finally:
            await backend.aclose()
        assert reply.json() == {"via": "proxy"}
        (seen,) = proxy.requests
        assert seen.headers["host"] == "api.invalid"


async def test_tls_is_verified_unless_the_settings_turn_it_off(http_client: str) -> None:
    with TLSServer() as server:
        verifying = PlainBackend("on", _settings(http_client, base_url=server.url))
        trusting = PlainBackend("off", _settings(http_client, base_url=server.url, verify_tls=False))
        try:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await verifying.client.get("/verified")
            reply = await trusting.client.get("/unverified")
        finally:
            await verifying.aclose()
            await trusting.aclose()
        assert reply.json() == {"tls": True}
        assert server.paths == ["/unverified"]


async def test_requests_one_after_another_reuse_one_pooled_connection(http_client: str) -> None:
    with LoopbackServer(_ok) as server:
        backend = PlainBackend("p", _settings(http_client, base_url=server.url))
        try:
            for _ in range(5):
                assert (await backend.client.get("/x")).json() == {"ok": True}
            async with backend.client.stream("GET", "/x") as reply:
                await reply.aread()
        finally:
            await backend.aclose()
        assert len(server.requests) == 6
        assert server.connections == 1


async def test_concurrent_requests_all_complete(http_client: str) -> None:
    with LoopbackServer(lambda _r: Reply.json({"ok": True}, delay=0.05)) as server:
        backend = PlainBackend("p", _settings(http_client, base_url=server.url))
        try:
            replies = await asyncio.gather(*(backend.client.get(f"/x{i}") for i in range(16)))
        finally:
            await backend.aclose()
        assert [r.json() for r in replies] == [{"ok": True}] * 16
        assert sorted(r.path for r in server.requests) == sorted(f"/x{i}" for i in range(16))


async def test_the_connection_budget_bounds_the_connections_opened(monkeypatch: pytest.MonkeyPatch, http_client: str) -> None:
    assert DEFAULT_MAX_CONNECTIONS == 100  # httpx's own default
    monkeypatch.setattr(backend_module, "DEFAULT_MAX_CONNECTIONS", 2)
    with LoopbackServer(lambda _r: Reply.json({"ok": True}, delay=0.1)) as server:
        backend = PlainBackend("p", _settings(http_client, base_url=server.url))
        try:
            replies = await asyncio.gather(*(backend.client.get("/x") for _ in range(6)))
        finally:
            await backend.aclose()
        assert [r.status_code for r in replies] == [200] * 6
        assert server.connections == 2  # the other requests waited for a pooled connection


async def test_only_the_keepalive_budget_of_idle_connections_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx's pool closes idle connections past its keep-alive budget."""
    assert DEFAULT_KEEPALIVE_CONNECTIONS == 20  # httpx's own default
    monkeypatch.setattr(backend_module, "DEFAULT_KEEPALIVE_CONNECTIONS", 2)
    with LoopbackServer(lambda _r: Reply.json({"ok": True}, delay=0.1)) as server:
        backend = PlainBackend("p", BackendSettings(base_url=server.url))
        try:
            for _ in range(2):  # two bursts of 6: the second reuses only the 2 kept idle
                replies = await asyncio.gather(*(backend.client.get("/x") for _ in range(6)))
                assert [r.status_code for r in replies] == [200] * 6
        finally:
            await backend.aclose()
        assert server.connections == 6 + 4


async def test_aiohttp_keeps_every_idle_connection_for_the_next_burst() -> None:
    """aiohttp's pool keeps what a burst opened (its idle connections cost no CPU per request)."""
    with LoopbackServer(lambda _r: Reply.json({"ok": True}, delay=0.1)) as server:
        backend = PlainBackend("p", BackendSettings(base_url=server.url, http_client="aiohttp"))
        try:
            for _ in range(2):
                replies = await asyncio.gather(*(backend.client.get("/x") for _ in range(6)))
                assert [r.status_code for r in replies] == [200] * 6
        finally:
            await backend.aclose()
        assert server.connections == 6
