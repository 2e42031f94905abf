"""DirectClient: a backend's own httpx client sends straight to its transport, and takes
httpx's full path whenever auth, redirects, event hooks or a proxy have work to do."""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref

import httpx
import pytest
from _support import clear_proxy_environment
from claudette import BackendSettings
from claudette.backend import BaseBackend
from claudette.client import DirectClient, proxies_in_environment
from claudette.testing import Fault, LoopbackServer, Reply
from claudette.transport import ShardedTransport


class _Plain(BaseBackend):
    async def send(self, request):  # type: ignore[no-untyped-def]  # never called here
        raise NotImplementedError


@pytest.fixture(autouse=True)
def _no_proxy_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_proxy_environment(monkeypatch)


class _Spy(httpx.AsyncBaseTransport):
    """Counts the requests handed to it and passes them on to a real transport."""

    def __init__(self) -> None:
        self.inner = ShardedTransport(shards=2, max_connections=4, retries=0)
        self.sent: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _cookie_setting(_request: object) -> Reply:
    return Reply.json({"ok": True}, headers={"set-cookie": "session=abc; Path=/"})


def test_a_backends_own_client_is_direct() -> None:
    backend = _Plain("p", BackendSettings(base_url="http://127.0.0.1:9/v1"))
    client = backend.client
    assert isinstance(client, DirectClient)
    assert client._direct
    assert isinstance(client._transport, ShardedTransport)


async def test_the_direct_path_skips_the_cookie_jar_and_keeps_the_answer() -> None:
    with LoopbackServer(_cookie_setting) as server:
        async with DirectClient(transport=_Spy(), base_url=server.url) as client:
            reply = await client.post("/v1/x", json={"q": 1}, headers={"x-key": "v"})
            assert reply.status_code == 200
            assert reply.json() == {"ok": True}
            assert reply.request.url == httpx.URL(server.url + "/v1/x")
            assert reply.is_closed  # read to its end: the connection is back in its pool
            assert not client.cookies  # httpx's own send would have stored session=abc
        (seen,) = server.requests
        assert seen.json() == {"q": 1}
        assert seen.headers["x-key"] == "v"
        assert seen.headers["user-agent"].startswith("python-httpx/")  # the client's defaults


async def test_the_full_path_is_httpx_own() -> None:
    """Control for the test above: the same server through a plain client stores the cookie."""
    with LoopbackServer(_cookie_setting) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            await client.post("/v1/x", json={})
            assert client.cookies.get("session") == "abc"


async def test_elapsed_is_set_when_the_body_is_closed() -> None:
    """As httpx's own client does; backends use it for the latency they report."""
    slow_body = Reply.stream(["a", "b"], chunk_delay=0.05)
    with LoopbackServer(lambda _r: slow_body) as server:
        async with DirectClient(transport=_Spy(), base_url=server.url) as client:
            whole = await client.get("/whole")
            assert whole.elapsed.total_seconds() >= 0.1
            async with client.stream("GET", "/streamed") as reply:
                with pytest.raises(RuntimeError, match="elapsed"):
                    _ = reply.elapsed  # not yet: httpx sets it when the body is closed
                assert await reply.aread() == b"ab"
            assert reply.elapsed.total_seconds() >= 0.1


async def test_a_response_is_freed_at_once_not_by_the_garbage_collector() -> None:
    """The body that times a response must not make a reference cycle with it: every
    response would then wait for a collection (measured: 8-10 µs more CPU a request)."""
    pre_read = httpx.MockTransport(lambda _r: httpx.Response(200, json={"ok": True}))
    with LoopbackServer(lambda _r: Reply.json({"ok": True})) as server:
        for transport in (_Spy(), pre_read):
            async with DirectClient(transport=transport, base_url=server.url) as client:
                gc.disable()
                try:
                    reply = await client.get("/x")
                    assert reply.json() == {"ok": True}
                    freed = weakref.ref(reply)
                    del reply
                    assert freed() is None
                finally:
                    gc.enable()


async def test_the_clients_default_encoding_decodes_a_body_without_charset() -> None:
    with LoopbackServer(lambda _r: Reply(body="café".encode("latin-1"), headers={"content-type": "text/plain"})) as server:
        async with DirectClient(transport=_Spy(), base_url=server.url, default_encoding="latin-1") as client:
            assert (await client.get("/t")).text == "café"


async def test_a_cookie_set_on_the_client_is_still_sent() -> None:
    with LoopbackServer(lambda _r: Reply.json({})) as server:
        async with DirectClient(transport=_Spy(), base_url=server.url, cookies={"k": "v"}) as client:
            await client.get("/c")
        assert server.requests[0].headers["cookie"] == "k=v"


async def test_the_clients_timeout_applies_and_an_error_names_its_request() -> None:
    with LoopbackServer(lambda _r: Fault.hang(5.0)) as server:
        spy = _Spy()
        async with DirectClient(transport=spy, base_url=server.url, timeout=0.2) as client:
            with pytest.raises(httpx.ReadTimeout) as caught:
                await client.get("/slow")
            assert caught.value.request.url.path == "/slow"
            assert spy.inner.in_flight == (0, 0)


async def test_a_body_cut_off_closes_the_response_and_frees_its_slot() -> None:
    cut = Reply.json({"text": "x" * 1000}, truncate_at=10)
    with LoopbackServer(lambda _r: cut) as server:
        spy = _Spy()
        async with DirectClient(transport=spy, base_url=server.url) as client:
            with pytest.raises(httpx.RemoteProtocolError):
                await client.get("/cut")
            assert spy.inner.in_flight == (0, 0)


async def test_a_stream_is_left_unread_until_the_caller_reads_it() -> None:
    with LoopbackServer(lambda _r: Reply.stream(["data: 1\n\n", "data: 2\n\n"])) as server:
        spy = _Spy()
        async with DirectClient(transport=spy, base_url=server.url) as client:
            async with client.stream("POST", "/s", json={}) as reply:
                assert not reply.is_closed
                assert spy.inner.in_flight == (1, 0)
                assert [line async for line in reply.aiter_lines() if line] == ["data: 1", "data: 2"]
            assert spy.inner.in_flight == (0, 0)


async def test_httpx_request_log_line_is_kept(caplog: pytest.LogCaptureFixture) -> None:
    with LoopbackServer(lambda _r: Reply.json({})) as server:
        async with DirectClient(transport=_Spy(), base_url=server.url) as client:
            with caplog.at_level(logging.INFO, logger="httpx"):
                await client.get("/logged")
    assert f'HTTP Request: GET {server.url}/logged "HTTP/1.1 200 OK"' in caplog.messages


async def test_a_closed_client_refuses_to_send() -> None:
    client = DirectClient(transport=_Spy(), base_url="http://127.0.0.1:9")
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await client.get("/x")


async def test_event_hooks_auth_and_redirects_take_httpx_full_path() -> None:
    def route(request: object) -> Reply:
        if getattr(request, "path", "") == "/old":
            return Reply(status=307, headers={"location": "/new"})
        return Reply.json({"path": getattr(request, "path", "")})

    with LoopbackServer(route) as server:
        seen: list[str] = []

        async def hook(request: httpx.Request) -> None:
            seen.append(request.url.path)

        async with DirectClient(transport=_Spy(), base_url=server.url) as client:
            client.event_hooks = {"request": [hook], "response": []}
            await client.get("/hooked")
            assert seen == ["/hooked"]
            client.event_hooks = {"request": [], "response": []}

            await client.get("/basic", auth=("user", "pass"))
            assert server.requests_to("/basic")[0].headers["authorization"].startswith("Basic ")

            redirected = await client.get("/old", follow_redirects=True)
            assert redirected.json() == {"path": "/new"}
            not_followed = await client.get("/old")
            assert not_followed.status_code == 307


async def test_a_proxy_from_the_environment_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy httpx finds in the environment gets the request, as with httpx's own client."""
    with LoopbackServer(lambda _r: Reply.json({"via": "proxy"})) as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        assert proxies_in_environment()
        backend = _Plain("p", BackendSettings(base_url="http://api.invalid/v1", timeout=5.0))
        client = backend.client
        assert not isinstance(client, DirectClient)  # httpx's own client routes via the proxy
        assert client.timeout.read == 5.0
        reply = await client.get("/v1/models")
        assert reply.json() == {"via": "proxy"}
        (seen,) = proxy.requests
        assert seen.headers["host"] == "api.invalid"
        await backend.aclose()


async def test_a_client_given_mounts_takes_the_full_path() -> None:
    mounted = httpx.MockTransport(lambda _r: httpx.Response(200, json={"via": "mount"}))
    own = _Spy()
    async with DirectClient(transport=own, mounts={"http://api.invalid": mounted}) as client:
        assert not client._direct
        reply = await client.get("http://api.invalid/x")
    assert reply.json() == {"via": "mount"}
    assert own.sent == []


async def test_concurrent_direct_requests_all_complete() -> None:
    with LoopbackServer(lambda _r: Reply.json({"ok": True}, delay=0.05)) as server:
        spy = _Spy()
        async with DirectClient(transport=spy, base_url=server.url) as client:
            replies = await asyncio.gather(*(client.get("/x") for _ in range(8)))
            assert [r.json() for r in replies] == [{"ok": True}] * 8
            assert len(spy.sent) == 8
            assert spy.inner.in_flight == (0, 0)
