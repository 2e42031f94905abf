"""ShardedTransport: one connection budget in several httpx pools, the least busy first."""

from __future__ import annotations

import asyncio
import ssl

import httpx
import pytest
from _support import clear_proxy_environment
from claudette import BackendSettings
from claudette.backend import BaseBackend
from claudette.testing import Fault, LoopbackServer, Reply
from claudette.transport import DEFAULT_MAX_CONNECTIONS, ShardedTransport


class _Plain(BaseBackend):
    async def send(self, request):  # type: ignore[no-untyped-def]  # never called here
        raise NotImplementedError


def test_the_connection_budget_is_split_over_the_pools() -> None:
    assert ShardedTransport(shards=8, max_connections=100).sizes == (13, 13, 13, 13, 12, 12, 12, 12)
    assert ShardedTransport(shards=1, max_connections=5).sizes == (5,)
    with pytest.raises(ValueError, match="shards must be at least 1"):
        ShardedTransport(shards=0)
    with pytest.raises(ValueError, match="must be at least shards"):
        ShardedTransport(shards=8, max_connections=4)


async def test_requests_one_after_another_reuse_one_connection() -> None:
    with LoopbackServer(lambda _r: Reply.json({"ok": True})) as server:
        transport = ShardedTransport(shards=4, max_connections=8)
        async with httpx.AsyncClient(transport=transport, base_url=server.url) as client:
            for _ in range(5):
                assert (await client.get("/x")).json() == {"ok": True}
            async with client.stream("GET", "/x") as reply:
                await reply.aread()
            assert transport.in_flight == (0, 0, 0, 0)
        assert server.connections == 1


async def test_concurrent_requests_go_to_the_least_busy_pool() -> None:
    with LoopbackServer(lambda _r: Reply.json({"ok": True}, delay=0.2)) as server:
        transport = ShardedTransport(shards=4, max_connections=8)
        async with httpx.AsyncClient(transport=transport, base_url=server.url) as client:
            tasks = [asyncio.ensure_future(client.get("/x")) for _ in range(6)]
            await asyncio.sleep(0.1)  # all sent, none answered
            assert transport.in_flight == (2, 2, 1, 1)
            replies = await asyncio.gather(*tasks)
            assert [r.status_code for r in replies] == [200] * 6
            assert transport.in_flight == (0, 0, 0, 0)
        assert server.connections == 6


async def test_an_open_stream_holds_its_slot_until_closed() -> None:
    with LoopbackServer(lambda _r: Reply.stream(["data: 1\n\n", "data: 2\n\n"])) as server:
        transport = ShardedTransport(shards=2, max_connections=4)
        async with httpx.AsyncClient(transport=transport, base_url=server.url) as client:
            async with client.stream("GET", "/s") as first:
                assert transport.in_flight == (1, 0)
                async with client.stream("GET", "/s") as second:
                    assert transport.in_flight == (1, 1)
                    await second.aread()
                assert transport.in_flight == (1, 0)
                await first.aread()
            assert transport.in_flight == (0, 0)


async def test_a_failed_or_cancelled_request_gives_its_slot_back() -> None:
    replies = iter([Fault.reset(), Fault.hang(5.0)])
    with LoopbackServer(lambda _r: next(replies)) as server:
        transport = ShardedTransport(shards=2, max_connections=4, retries=0)
        async with httpx.AsyncClient(transport=transport, base_url=server.url) as client:
            with pytest.raises(httpx.TransportError):
                await client.get("/reset")
            assert transport.in_flight == (0, 0)
            hung = asyncio.ensure_future(client.get("/hang"))
            await asyncio.sleep(0.1)
            assert transport.in_flight == (1, 0)
            hung.cancel()
            with pytest.raises(asyncio.CancelledError):
                await hung
            assert transport.in_flight == (0, 0)


async def test_a_backends_own_client_spreads_its_connections_and_keeps_its_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clear_proxy_environment(monkeypatch)
    backend = _Plain("p", BackendSettings(base_url="https://api.example/v1", timeout=7.0, verify_tls=False))
    client = backend.client
    transport = client._transport
    assert isinstance(transport, ShardedTransport)
    assert sum(transport.sizes) == DEFAULT_MAX_CONNECTIONS == 100
    assert len(transport.sizes) > 1
    # verify_tls=False: one non-verifying context, shared by every pool
    (context,) = {pool._pool._ssl_context for pool in transport.pools}
    assert context.verify_mode == ssl.CERT_NONE
    assert client.timeout.read == 7.0
    assert str(client.base_url) == "https://api.example/v1/"
    await backend.aclose()


async def test_an_injected_client_is_used_as_it_is() -> None:
    injected = httpx.AsyncClient()
    backend = _Plain("p", BackendSettings(), client=injected)
    assert backend.client is injected
    assert not isinstance(backend.client._transport, ShardedTransport)
    await injected.aclose()
