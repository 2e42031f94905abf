"""Every call ends within its bound, on every plugin, whatever the upstream does.

Upstreams that drip a byte at a time, send only keep-alives (an SSE comment, Anthropic's
``ping`` event, a blank NDJSON line), or never answer at all: ``backend.send``,
``backend.stream``, ``route_request`` and ``router.stream`` each end within the bound the
settings give (``timeout``; in a stream, ``stream_idle_timeout`` once an event came and
``stream_timeout`` in all), plus a small margin, in a retryable timeout. An upstream that
sends its whole answer and then holds the connection open has answered: that is a
success, never a failure.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from _providers import CUT_AFTER, NAMES, Provider
from claudette import ClaudetteRequest
from claudette.backend import BaseBackend
from claudette.errors import BackendTimeoutError, NoBackendAvailableError, StreamInterruptedError
from claudette.http import DRAIN_TIMEOUT
from claudette.testing import TransportFault, faults
from claudette.testing.pytest_plugin import build_router

TIMEOUT = 0.8
IDLE = 0.4
STREAM_TIMEOUT = 1.5
#: Scheduling slack on a loaded 2-core machine.
MARGIN = 1.0
#: Sixteen words: every emulator streams more than a dozen text chunks for it.
PROMPT = "please describe in many short words how a stream may drip keep alive hang or end late"

#: Faults that give no meaningful event in time, each with the bound it must end within.
SILENT: dict[str, Callable[[], TransportFault]] = {
    "drip": lambda: faults.drip(0.2),
    "keep_alive_only": lambda: faults.keep_alive_only(0.1),
    "never_answer": faults.never_answer,
}


def _backend(provider: Provider) -> BaseBackend:
    return provider.backend(
        timeout=TIMEOUT,
        connect_timeout=TIMEOUT,
        stream_idle_timeout=IDLE,
        stream_timeout=STREAM_TIMEOUT,
    )


async def _timed(call: Callable[[], Awaitable[Any]]) -> tuple[BaseException | None, float, Any]:
    started = time.monotonic()
    try:
        result = await call()
    except Exception as exc:
        return exc, time.monotonic() - started, None
    return None, time.monotonic() - started, result


def _is_timeout(error: BaseException | None) -> bool:
    """A retryable timeout, as the backend raises it or as the router reports it."""
    if isinstance(error, NoBackendAvailableError):
        error = error.__cause__
    if isinstance(error, StreamInterruptedError):
        error = error.__cause__
    return isinstance(error, BackendTimeoutError) and error.retryable


async def _collect(chunks: Any, into: list[str]) -> Any:
    async for chunk in chunks:
        into.append(chunk.text)
        if chunk.response is not None:
            return chunk.response
    return None


@pytest.mark.parametrize("fault", sorted(SILENT))
@pytest.mark.parametrize("name", NAMES)
async def test_send_ends_within_timeout(providers: dict[str, Provider], name: str, fault: str) -> None:
    provider = providers[name]
    provider.emulator.script(SILENT[fault]())
    backend = _backend(provider)
    request = ClaudetteRequest(prompt=PROMPT)
    try:
        error, elapsed, _ = await _timed(lambda: backend.send(request))
    finally:
        await backend.aclose()
    assert _is_timeout(error), repr(error)
    assert elapsed < TIMEOUT + MARGIN


@pytest.mark.parametrize("fault", sorted(SILENT))
@pytest.mark.parametrize("name", NAMES)
async def test_route_request_ends_within_timeout(
    providers: dict[str, Provider], name: str, fault: str
) -> None:
    provider = providers[name]
    provider.emulator.script(SILENT[fault]())
    async with build_router(_backend(provider)) as router:
        error, elapsed, _ = await _timed(lambda: router.route_request(ClaudetteRequest(prompt=PROMPT)))
    assert _is_timeout(error), repr(error)
    assert elapsed < TIMEOUT + MARGIN


@pytest.mark.parametrize("fault", sorted(SILENT))
@pytest.mark.parametrize("name", NAMES)
async def test_stream_without_an_event_ends_within_timeout(
    providers: dict[str, Provider], name: str, fault: str
) -> None:
    provider = providers[name]
    request = ClaudetteRequest(prompt=PROMPT)
    backend = _backend(provider)
    try:
        provider.emulator.script(SILENT[fault]())
        error, elapsed, _ = await _timed(lambda: _collect(backend.stream(request), []))
        assert _is_timeout(error), repr(error)
        assert elapsed < TIMEOUT + MARGIN
    finally:
        await backend.aclose()
    provider.emulator.script(SILENT[fault]())
    async with build_router(_backend(provider)) as router:
        error, elapsed, _ = await _timed(lambda: _collect(router.stream(request), []))
    assert _is_timeout(error), repr(error)
    assert elapsed < TIMEOUT + MARGIN


@pytest.mark.parametrize("name", NAMES)
async def test_keep_alives_after_text_end_within_the_idle_time(
    providers: dict[str, Provider], name: str
) -> None:
    """Keep-alives every 0.1 s do not count as events: the idle time runs out."""
    provider = providers[name]
    request = ClaudetteRequest(prompt=PROMPT)
    fault = faults.keep_alive_only(0.1, chunks=CUT_AFTER[name] + 1)
    backend = _backend(provider)
    try:
        provider.emulator.script(fault)
        texts: list[str] = []
        error, elapsed, _ = await _timed(lambda: _collect(backend.stream(request), texts))
        assert _is_timeout(error), repr(error)
        assert "stream_idle_timeout" in str(error)
        assert "".join(texts), "some text came before the keep-alives"
        assert elapsed < IDLE + MARGIN
    finally:
        await backend.aclose()
    provider.emulator.script(fault)
    texts = []
    async with build_router(_backend(provider)) as router:
        error, elapsed, _ = await _timed(lambda: _collect(router.stream(request), texts))
    assert isinstance(error, StreamInterruptedError) and _is_timeout(error), repr(error)
    assert error.partial_text == "".join(texts) != ""
    assert elapsed < IDLE + MARGIN


@pytest.mark.parametrize("name", NAMES)
async def test_a_stream_that_never_ends_ends_at_stream_timeout(
    providers: dict[str, Provider], name: str
) -> None:
    """Text every 0.15 s (each within the idle time) for longer than ``stream_timeout``."""
    provider = providers[name]
    request = ClaudetteRequest(prompt=PROMPT)
    provider.emulator.script(faults.slow(chunk_delay=0.15))
    texts: list[str] = []
    async with build_router(_backend(provider)) as router:
        error, elapsed, _ = await _timed(lambda: _collect(router.stream(request), texts))
    assert isinstance(error, StreamInterruptedError) and _is_timeout(error), repr(error)
    assert "stream_timeout" in str(error.__cause__)
    assert STREAM_TIMEOUT <= elapsed < STREAM_TIMEOUT + MARGIN
    assert error.partial_text == "".join(texts) != ""


@pytest.mark.parametrize("name", NAMES)
async def test_a_whole_answer_on_a_connection_held_open_is_a_success(
    providers: dict[str, Provider], name: str
) -> None:
    """The end marker ([DONE], message_stop, done: true) arrived: the answer is complete."""
    provider = providers[name]
    request = ClaudetteRequest(prompt=PROMPT)
    async with build_router(_backend(provider)) as router:
        expected = await router.route_request(request)
        provider.emulator.script(faults.held_open())
        texts: list[str] = []
        error, elapsed, response = await _timed(lambda: _collect(router.stream(request), texts))
        provider.emulator.script(faults.held_open())
        sent = await router.route_request(request)
        assert router.stats()["backends"][name]["failures"] == 0
    assert error is None, repr(error)
    assert response.content == "".join(texts) == expected.content == sent.content
    assert response.finish_reason is not None
    assert elapsed < DRAIN_TIMEOUT + MARGIN
