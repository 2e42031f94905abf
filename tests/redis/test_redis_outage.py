"""Redis down or slow: routing goes on with local state, one warning, re-sync on return."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from _fakes import PolicyPlugin, ScriptedBackend
from _redis_server import RedisServer, free_port
from claudette import (
    BackendRouter,
    BreakerPolicy,
    CircuitBreakerState,
    ClaudetteRequest,
    RouterOptions,
)
from claudette.plugins import ClaudettePlugins
from claudette.redis_store import RedisStateStore

POLICY = BreakerPolicy(failure_threshold=2, reset_timeout=60.0)


def _unreachable_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING and "unreachable" in r.getMessage()]


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung Redis)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


async def test_an_outage_logs_one_warning_not_one_per_call(
    make_store: Callable[..., RedisStateStore], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="claudette")
    store = make_store(url=f"redis://127.0.0.1:{free_port()}/0", refresh_interval=0.01)
    breaker, stats = store.breaker("b", POLICY), store.stats("b")
    for _ in range(20):
        stats.record_failure()
        breaker.record_failure()
        await store.sync()
        assert await store.reserve("rpm:b", 1, 10) is None
    await asyncio.sleep(0.1)  # the background task keeps retrying too
    assert len(_unreachable_warnings(caplog)) == 1
    assert store.outages == 1
    assert store.connected is False
    message = _unreachable_warnings(caplog)[0].getMessage()
    assert "local state" in message and "127.0.0.1" in message


async def test_routing_goes_on_from_local_state_while_redis_is_unreachable(
    make_store: Callable[..., RedisStateStore],
) -> None:
    store = make_store(url=f"redis://127.0.0.1:{free_port()}/0")
    flaky, steady = ScriptedBackend("flaky", 0.0, failing=True), ScriptedBackend("steady", 1.0)
    router = BackendRouter(
        RouterOptions(health_checks=False),
        plugins=ClaudettePlugins(autoload=False, plugins=[PolicyPlugin(POLICY)]),
        store=store,
    )
    router.register_backend(flaky)
    router.register_backend(steady)
    answers = [(await router.route_request(ClaudetteRequest(prompt="hi"))).content for _ in range(10)]
    assert answers == ["steady"] * 10
    assert flaky.calls == POLICY.failure_threshold  # the local breaker opened, as in memory
    assert router.breaker("flaky").state is CircuitBreakerState.OPEN


async def test_a_hung_redis_costs_at_most_the_socket_timeout(
    make_store: Callable[..., RedisStateStore], black_hole: int
) -> None:
    store = make_store(url=f"redis://127.0.0.1:{black_hole}/0", timeout=0.1)
    store.breaker("b", POLICY).record_failure()
    started = time.monotonic()
    assert await store.sync() is False
    assert time.monotonic() - started < 1.0
    assert store.connected is False


async def test_when_redis_returns_queued_changes_are_replayed_and_others_see_them(
    private_redis: RedisServer, caplog: pytest.LogCaptureFixture,
    make_store: Callable[..., RedisStateStore],
) -> None:
    caplog.set_level(logging.WARNING, logger="claudette")
    server = private_redis
    store = make_store(url=server.url, refresh_interval=60.0)
    breaker, stats = store.breaker("b", POLICY), store.stats("b")
    assert await store.sync()
    server.stop()
    breaker.record_failure()
    breaker.record_failure()
    stats.record_success(42.0)
    assert await store.sync() is False
    assert breaker.state is CircuitBreakerState.OPEN  # locally, as in memory
    server.start()
    assert await store.sync() is True
    assert any("reachable again" in r.getMessage() for r in caplog.records)
    other = make_store(url=server.url)
    other.breaker("b", POLICY)
    other.stats("b")
    await other.sync()
    assert other.breaker("b", POLICY).state is CircuitBreakerState.OPEN
    assert other.stats("b").latencies == (42.0,)


async def test_with_a_hung_redis_only_the_first_cache_lookup_waits(
    make_store: Callable[..., RedisStateStore], black_hole: int
) -> None:
    from claudette.types import CacheOptions

    cache = make_store(url=f"redis://127.0.0.1:{black_hole}/0", timeout=0.1).response_cache(CacheOptions())
    started = time.monotonic()
    assert await cache.get("k") is None
    first = time.monotonic() - started
    started = time.monotonic()
    for _ in range(10):
        assert await cache.get("k") is None
    assert first < 1.0
    assert time.monotonic() - started < 0.05  # known down: no more waiting


async def test_with_a_hung_redis_the_probe_is_decided_locally_after_one_timeout(
    make_store: Callable[..., RedisStateStore], black_hole: int
) -> None:
    store = make_store(url=f"redis://127.0.0.1:{black_hole}/0", timeout=0.1, refresh_interval=60.0)
    breaker = store.breaker("b", BreakerPolicy(failure_threshold=1, reset_timeout=0.05))
    breaker.record_failure()
    await asyncio.sleep(0.06)
    started = time.monotonic()
    assert await breaker.acquire() is True  # the local view allows one probe
    assert time.monotonic() - started < 1.0
    assert await breaker.acquire() is False  # ... and only one, as in memory


async def test_each_redis_restart_is_one_outage_however_many_connections_were_pooled(
    private_redis: RedisServer, caplog: pytest.LogCaptureFixture,
    make_store: Callable[..., RedisStateStore],
) -> None:
    caplog.set_level(logging.WARNING, logger="claudette")
    server = private_redis
    store = make_store(url=server.url, refresh_interval=60.0)
    store.breaker("b", POLICY)
    for _restart in range(2):
        # Concurrent calls fill the pool with several connections, all stale after a restart.
        assert all(await asyncio.gather(*(store.reserve(f"rpm:{i}", 1, 100) for i in range(8))))
        server.stop()
        server.start()
        for _ in range(3):  # the first call meets a dead connection: that is the outage
            await store.reserve("rpm:x", 1, 100)
            await store.sync()
        assert store.connected
        for _ in range(8):  # every call after it finds a fresh connection
            assert await store.reserve("rpm:y", 1, 100) is True
    assert store.outages == 2  # one per restart
    assert len(_unreachable_warnings(caplog)) == store.outages
