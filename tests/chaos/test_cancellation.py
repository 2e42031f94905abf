"""Cancellation: a caller that gives up leaves nothing behind and blames no backend.

A cancelled attempt (task cancelled, ``asyncio.timeout`` fired, stream closed early) must
release its connection, must not count as a backend failure, and must free a half-open
probe slot. A storm of cancelled requests leaves no descriptor, task or failure behind.
"""

from __future__ import annotations

import asyncio
import random
import time
from urllib.parse import urlsplit

import pytest
from _chaos_support import PolicyPlugin, client_sockets, open_fds
from _providers import NAMES
from claudette import ClaudetteRequest
from claudette import backend as backend_module
from claudette.errors import NoBackendAvailableError
from claudette.testing.pytest_plugin import build_router
from claudette.types import BreakerPolicy, RouterOptions


@pytest.fixture
def one_connection(monkeypatch):
    """Backends built in the test open one connection at most, so a request that kept its
    connection after giving up would leave the next request waiting for it."""
    monkeypatch.setattr(backend_module, "DEFAULT_MAX_CONNECTIONS", 1)


async def _the_connection_is_free(router, name: str) -> None:
    """A new request gets the backend's only connection and completes."""
    try:
        async with asyncio.timeout(3.0):
            response = await router.route_request(ClaudetteRequest(prompt="req-99 next", backend=name))
    except TimeoutError:
        pytest.fail(f"{name}: the request that gave up still holds the only connection")
    assert response.backend_used == name


async def _until(predicate, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return predicate()


def _blameless(router, name: str) -> None:
    stats = router.stats()["backends"][name]
    assert stats["failures"] == 0 and stats["calls"] == 0 and stats["in_flight"] == 0
    assert stats["breaker"] == "closed" and stats["consecutive_failures"] == 0


def _slow(provider, seconds: float) -> None:
    """Every answer of this emulator starts ``seconds`` late (and streams slowly)."""
    emu = provider.emulator
    if provider.name in ("openai", "qwen"):
        emu.reply_delay, emu.chunk_delay = seconds, seconds
    elif provider.name == "claude":
        emu.latency, emu.chunk_delay = seconds, seconds
    else:
        emu.delay, emu.chunk_delay = seconds, seconds


@pytest.mark.parametrize("name", NAMES)
async def test_a_cancelled_request_releases_its_connection_and_blames_no_one(providers, name, one_connection):
    provider = providers[name]
    _slow(provider, 1.0)
    router = build_router(provider.backend())
    try:
        task = asyncio.create_task(router.route_request(ClaudetteRequest(prompt="req-1 slow one")))
        assert await _until(lambda: len(provider.chat_requests()) == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        _blameless(router, name)
        # The server sees the client go away once it tries to answer.
        assert await _until(lambda: not provider.emulator.server._writers, 3.0)
        _slow(provider, 0.0)
        await _the_connection_is_free(router, name)
    finally:
        await router.aclose()


@pytest.mark.parametrize("name", NAMES)
async def test_a_timeout_mid_stream_releases_the_connection_and_blames_no_one(providers, name, one_connection):
    provider = providers[name]
    _slow(provider, 0.1)
    router = build_router(provider.backend())
    received: list[str] = []
    try:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.0):
                async for chunk in router.stream(ClaudetteRequest(prompt="req-2 " + "word " * 30)):
                    received.append(chunk.text)
        assert received, "the timeout fired before the first chunk"
        assert not any(c is None for c in received)
        _blameless(router, name)
        assert await _until(lambda: not provider.emulator.server._writers, 3.0)
        _slow(provider, 0.0)
        await _the_connection_is_free(router, name)
    finally:
        await router.aclose()


async def test_closing_a_stream_early_is_not_a_failure(providers, one_connection):
    provider = providers["openai"]
    provider.emulator.chunk_delay = 0.05
    router = build_router(provider.backend())
    try:
        stream = router.stream(ClaudetteRequest(prompt="req-3 " + "word " * 30))
        first = await stream.__anext__()
        await stream.aclose()
        assert first.text and first.response is None
        _blameless(router, "openai")
        provider.emulator.chunk_delay = 0.0
        await _the_connection_is_free(router, "openai")
    finally:
        await router.aclose()


async def test_a_cancelled_half_open_probe_frees_the_slot_for_the_next_request(providers):
    provider = providers["ollama"]
    policy = BreakerPolicy(failure_threshold=1, reset_timeout=0.2)
    router = build_router(provider.backend(), plugins=[PolicyPlugin(policy)])
    try:
        provider.script(["http_500"])
        with pytest.raises(NoBackendAvailableError):
            await router.route_request(ClaudetteRequest(prompt="req-4 fails"))
        assert router.breaker_status()["ollama"] == "open"
        await asyncio.sleep(0.25)
        _slow(provider, 2.0)
        probe = asyncio.create_task(router.route_request(ClaudetteRequest(prompt="req-5 the probe")))
        assert await _until(lambda: len(provider.chat_requests()) == 2)
        breaker = router.breaker("ollama")
        assert breaker.state.value == "half_open" and not breaker.allows_request()
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
        assert breaker.state.value == "half_open" and breaker.allows_request(), "the slot was not freed"
        assert breaker.consecutive_failures == 1  # the cancelled probe added nothing
        _slow(provider, 0.0)
        response = await router.route_request(ClaudetteRequest(prompt="req-6 the next probe"))
        assert response.backend_used == "ollama"
        assert breaker.state.value == "closed"
    finally:
        await router.aclose()


async def test_a_storm_of_cancelled_requests_leaves_no_descriptor_task_or_failure(providers):
    rng = random.Random(7)
    for provider in providers.values():
        _slow(provider, 0.02)
    router = build_router(*(providers[n].backend() for n in NAMES), options=RouterOptions(health_checks=False))
    fds_before = open_fds()
    sem = asyncio.Semaphore(50)
    cancelled = answered = 0

    async def one(i: int) -> None:
        nonlocal cancelled, answered
        async with sem:
            try:
                async with asyncio.timeout(rng.uniform(0.0, 1.5)):
                    if i % 2:
                        async for _ in router.stream(ClaudetteRequest(prompt=f"req-{i} " + "w " * 8)):
                            pass
                    else:
                        await router.route_request(ClaudetteRequest(prompt=f"req-{i} hi"))
                answered += 1
            except TimeoutError:
                cancelled += 1

    try:
        await asyncio.gather(*(one(i) for i in range(600)))
        stats = router.stats()["backends"]
    finally:
        await router.aclose()
    assert cancelled > 60 and answered > 60, (cancelled, answered)
    for name in NAMES:
        assert stats[name]["failures"] == 0, f"{name}: a cancellation was counted as a failure"
        assert stats[name]["in_flight"] == 0 and stats[name]["breaker"] == "closed"
    assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    ports = {urlsplit(str(providers[n].settings().base_url)).port or 0 for n in NAMES}
    assert await _until(lambda: not client_sockets(ports), 5.0), f"connections kept open: {client_sockets(ports)}"
    # The server ends close once each emulator notices its client left, on the emulator's own
    # thread and schedule: allow them longer.
    assert await _until(lambda: open_fds() <= fds_before + 4, 15.0), (fds_before, open_fds())
