"""``http_client = "aiohttp"``: httpx's API over aiohttp's pool, indistinguishable on the wire
and in its failures from httpx's own transport.

Every test talks to a real server on loopback (a scripted :class:`LoopbackServer`, or a
raw socket server where the bytes themselves are the point) and runs the same call with
both clients.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from _support import PlainBackend, clear_proxy_environment
from _tls import TLSServer
from claudette import BackendSettings
from claudette._cli_load import load_router
from claudette.aiohttp_transport import AiohttpTransport
from claudette.config import load_config
from claudette.errors import BackendUnavailableError, ConfigError
from claudette.gateway.options import ServerOptions
from claudette.http import error_from_exception
from claudette.testing import Fault, LoopbackServer, Reply
from claudette.types import HttpClient
from test_cli_helpers import cli_env

CLIENTS = ["httpx", "aiohttp"]


@pytest.fixture(autouse=True)
def _no_proxy_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_proxy_environment(monkeypatch)


def _backend(http_client: str, url: str, **settings: Any) -> PlainBackend:
    return PlainBackend("p", BackendSettings(base_url=url, http_client=cast(HttpClient, http_client), **settings))


RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def _raw_server(handler: RawHandler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + await reader.readexactly(length)


async def _failure(http_client: str, url: str, **settings: Any) -> httpx.HTTPError:
    backend = _backend(http_client, url, **settings)
    try:
        with pytest.raises(httpx.HTTPError) as caught:
            response = await backend.client.post("/v1/chat/completions", json={"q": 1})
            await response.aread()
    finally:
        await backend.aclose()
    return caught.value


async def test_the_request_on_the_wire_is_byte_for_byte_the_one_httpx_sends() -> None:
    seen: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await _read_request(reader))
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    async with _raw_server(record) as url:
        for http_client in CLIENTS:
            backend = _backend(http_client, url, headers={"authorization": "Bearer k"})
            try:
                reply = await backend.client.post("/v1/chat/completions", json={"messages": []})
            finally:
                await backend.aclose()
            assert reply.text == "ok"
    by_httpx, by_aiohttp = (request.replace(b"python-httpx", b"UA") for request in seen)
    assert by_aiohttp == by_httpx
    assert by_aiohttp.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")


@pytest.mark.parametrize("http_client", CLIENTS)
async def test_the_reply_keeps_its_status_headers_and_a_gzip_body_is_decoded(http_client: str) -> None:
    body = gzip.compress(json.dumps({"ok": True}).encode())
    reply = Reply(429, {"content-encoding": "gzip", "retry-after": "7", "x-ratelimit-remaining-requests": "0"}, body)
    with LoopbackServer(lambda _r: reply) as server:
        backend = _backend(http_client, server.url)
        try:
            response = await backend.client.get("/limited")
        finally:
            await backend.aclose()
    assert response.status_code == 429
    assert response.reason_phrase == "Too Many Requests"
    assert response.headers["retry-after"] == "7"
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    assert response.json() == {"ok": True}


@pytest.mark.parametrize("http_client", CLIENTS)
async def test_a_stream_arrives_piece_by_piece(http_client: str) -> None:
    pieces = [f"data: {i}\n\n" for i in range(3)]
    with LoopbackServer(lambda _r: Reply.stream(pieces, chunk_delay=0.3)) as server:
        backend = _backend(http_client, server.url)
        loop = asyncio.get_running_loop()
        try:
            started = loop.time()
            arrivals: list[tuple[float, str]] = []
            async with backend.client.stream("GET", "/sse") as response:
                async for line in response.aiter_lines():
                    if line:
                        arrivals.append((loop.time() - started, line))
        finally:
            await backend.aclose()
    assert [line for _, line in arrivals] == ["data: 0", "data: 1", "data: 2"]
    assert arrivals[0][0] < 0.55  # the first piece, before the server has sent the others
    assert arrivals[2][0] >= 0.85


@pytest.mark.parametrize("http_client", CLIENTS)
async def test_an_abandoned_stream_closes_its_connection(http_client: str) -> None:
    """Leaving a stream early must stop the provider's work: its connection is not reused."""
    with LoopbackServer(lambda _r: Reply.stream(["data: 1\n\n"] * 50, chunk_delay=0.05)) as server:
        backend = _backend(http_client, server.url)
        try:
            async with backend.client.stream("GET", "/sse") as response:
                async for _ in response.aiter_raw():
                    break
            second = await backend.client.get("/again")
            await second.aread()
        finally:
            await backend.aclose()
        assert server.connections == 2


@pytest.mark.parametrize("http_client", CLIENTS)
async def test_a_refused_connection_is_a_connect_error_the_router_can_name(http_client: str) -> None:
    async with _raw_server(lambda _r, w: _close(w)) as url:
        pass  # closed again: nothing listens on its port now
    error = await _failure(http_client, url, timeout=5.0)
    assert type(error) is httpx.ConnectError
    mapped = error_from_exception("p", error)
    assert isinstance(mapped, BackendUnavailableError)
    assert mapped.retryable
    assert "cannot connect" in str(mapped)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()


@pytest.mark.parametrize("http_client", CLIENTS)
async def test_a_connection_closed_without_an_answer_is_a_protocol_error(http_client: str) -> None:
    with LoopbackServer(lambda _r: Fault.reset()) as server:
        error = await _failure(http_client, server.url)
    assert isinstance(error, (httpx.RemoteProtocolError, httpx.ReadError))
    assert "connection broken" in str(error_from_exception("p", error))


@pytest.mark.parametrize("http_client", CLIENTS)
async def test_a_body_cut_short_is_a_broken_connection(http_client: str) -> None:
    reply = Reply.json({"choices": ["x" * 2000]}, truncate_at=100)
    with LoopbackServer(lambda _r: reply) as server:
        error = await _failure(http_client, server.url)
    assert isinstance(error, (httpx.RemoteProtocolError, httpx.ReadError))
    assert "connection broken" in str(error_from_exception("p", error))


@pytest.mark.parametrize("http_client", CLIENTS)
async def test_a_reply_that_is_not_http_is_a_protocol_error(http_client: str) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()
        writer.close()

    async with _raw_server(garbage) as url:
        error = await _failure(http_client, url)
    assert type(error) is httpx.RemoteProtocolError
    assert "connection broken" in str(error_from_exception("p", error))


@pytest.mark.parametrize("http_client", CLIENTS)
async def test_a_silent_server_is_a_read_timeout(http_client: str) -> None:
    with LoopbackServer(lambda _r: Fault.hang(5.0)) as server:
        error = await _failure(http_client, server.url, timeout=0.3)
    assert type(error) is httpx.ReadTimeout
    assert "read timeout" in str(error_from_exception("p", error))


@pytest.mark.parametrize("http_client", CLIENTS)
async def test_a_proxy_with_credentials_gets_them_and_no_proxy_is_honoured(
    http_client: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LoopbackServer(lambda _r: Reply.json({"via": "proxy"})) as proxy:
        monkeypatch.setenv("http_proxy", proxy.url.replace("http://", "http://user:pw@"))
        monkeypatch.setenv("no_proxy", "direct.invalid")
        backend = _backend(http_client, "http://api.invalid/v1", timeout=5.0)
        try:
            reply = await backend.client.get("/v1/models")
            with pytest.raises(httpx.ConnectError):  # not through the proxy: no such host
                await backend.client.get("http://direct.invalid/v1/models")
        finally:
            await backend.aclose()
        assert reply.json() == {"via": "proxy"}
        (seen,) = proxy.requests
        assert seen.headers["host"] == "api.invalid"
        assert seen.headers["proxy-authorization"] == "Basic dXNlcjpwdw=="  # user:pw


@asynccontextmanager
async def _connect_proxy(seen: list[tuple[bytes, str | None]]) -> AsyncIterator[str]:
    """An HTTP proxy that only tunnels (``CONNECT``), recording each request line and the
    credentials it came with."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def tunnel(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line, *lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        credentials = [v.strip().decode() for k, _, v in (line.partition(b":") for line in lines)
                       if k.lower() == b"proxy-authorization"]
        seen.append((request_line, credentials[0] if credentials else None))
        host, _, port = request_line.split(b" ")[1].decode().rpartition(":")
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer), return_exceptions=True)

    async with _raw_server(tunnel) as url:
        yield url


@pytest.mark.parametrize("http_client", CLIENTS)
async def test_https_goes_through_the_proxys_tunnel_with_its_credentials(
    http_client: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[bytes, str | None]] = []
    with TLSServer() as server:
        async with _connect_proxy(seen) as proxy:
            monkeypatch.setenv("https_proxy", proxy.replace("http://", "http://user:pw@"))
            backend = _backend(http_client, server.url, verify_tls=False, timeout=5.0)
            try:
                reply = await backend.client.get("/through-the-tunnel")
            finally:
                await backend.aclose()
        assert reply.json() == {"tls": True}
        assert server.paths == ["/through-the-tunnel"]
    authority = server.url.removeprefix("https://").rstrip("/").encode()
    assert seen == [(b"CONNECT " + authority + b" HTTP/1.1", "Basic dXNlcjpwdw==")]


@pytest.mark.parametrize("http_client", CLIENTS)
async def test_a_proxy_refusing_the_tunnel_is_a_proxy_error(
    http_client: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    async with _raw_server(refuse) as proxy:
        monkeypatch.setenv("https_proxy", proxy)
        error = await _failure(http_client, "https://api.invalid/v1", timeout=5.0)
    assert type(error) is httpx.ProxyError


async def test_the_transport_closes_its_pool_with_the_client() -> None:
    with LoopbackServer(lambda _r: Reply.json({"ok": True})) as server:
        transport = AiohttpTransport(limits=httpx.Limits())
        async with httpx.AsyncClient(transport=transport, base_url=server.url) as client:
            assert (await client.get("/a")).json() == {"ok": True}
        # A closed pool opens a new one for the next request rather than failing.
        async with httpx.AsyncClient(transport=transport, base_url=server.url) as client:
            assert (await client.get("/b")).json() == {"ok": True}
        assert server.connections == 2


# -- configuration -----------------------------------------------------------------------


def test_the_library_default_is_httpx_and_the_gateway_default_is_aiohttp() -> None:
    assert BackendSettings().http_client is None  # httpx's own transport
    assert ServerOptions().http_client == "aiohttp"


def test_an_unknown_http_client_is_a_config_problem_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "claudette.toml"
    path.write_text(
        '[server]\nhttp_client = "curl"\n\n'
        '[backends.a]\nplugin = "openai"\nbase_url = "http://127.0.0.1:9/v1"\nhttp_client = "requests"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert str(path) in text
    assert "backends.a.http_client: expected one of 'httpx', 'aiohttp'" in text
    assert "server.http_client: expected one of 'httpx', 'aiohttp'" in text


async def test_the_gateways_http_client_fills_only_the_backends_that_set_none(tmp_path: Path) -> None:
    path = tmp_path / "claudette.toml"
    path.write_text(
        '[backends.own]\nplugin = "openai"\nbase_url = "http://127.0.0.1:9/v1"\napi_key = "k"\n'
        'http_client = "httpx"\n\n'
        '[backends.unset]\nplugin = "openai"\nbase_url = "http://127.0.0.1:9/v1"\napi_key = "k"\n'
    )
    plain = (await load_router(str(path), None)).router
    filled = (await load_router(str(path), None, http_client="aiohttp")).router
    try:
        assert [plain.backends[n].settings.http_client for n in ("own", "unset")] == ["httpx", None]
        assert [filled.backends[n].settings.http_client for n in ("own", "unset")] == ["httpx", "aiohttp"]
    finally:
        await plain.aclose()
        await filled.aclose()


async def test_the_gateways_http_client_fills_detected_backends_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in cli_env(tmp_path, OPENAI_API_KEY="sk-detected-0123456789").items():
        monkeypatch.setenv(name, value)
    for name in ("ANTHROPIC_API_KEY", "DASHSCOPE_API_KEY", "CLAUDETTE_CONFIG", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    loaded = await load_router(None, None, http_client="aiohttp")
    try:
        assert loaded.source == "auto-detection"
        assert loaded.router.backends["openai"].settings.http_client == "aiohttp"
    finally:
        await loaded.router.aclose()
