"""The bounds of one provider call: CallDeadline and StreamClock, on plain awaitables."""

from __future__ import annotations

import asyncio
import time

import pytest
from claudette.deadlines import CallDeadline, StreamClock
from claudette.errors import BackendTimeoutError
from claudette.types import BackendSettings

#: Scheduling slack on a loaded machine.
SLACK = 0.25


def _settings(**values: float) -> BackendSettings:
    return BackendSettings(**values)  # type: ignore[arg-type]


async def _after(seconds: float, value: str = "event") -> str:
    await asyncio.sleep(seconds)
    return value


async def test_call_deadline_passes_an_answer_within_it() -> None:
    async with CallDeadline("b", 1.0):
        assert await _after(0.01) == "event"


async def test_call_deadline_ends_a_slow_call_in_a_retryable_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(BackendTimeoutError) as caught:
        async with CallDeadline("b", 0.2):
            await _after(5)
    assert time.monotonic() - started < 0.2 + SLACK
    assert (caught.value.backend, caught.value.retryable) == ("b", True)
    assert "no answer within 0.2s" in caught.value.message


async def test_call_deadline_counts_from_entering_not_from_construction() -> None:
    deadline = CallDeadline("b", 0.3)
    await asyncio.sleep(0.4)
    async with deadline:
        assert await _after(0.1) == "event"


@pytest.mark.parametrize(("outer", "inner", "message"), [
    (0.2, 5.0, "no first chunk within 0.2s"),  # the enclosing deadline ends first
    (0.2, 0.2, "no first chunk within 0.2s"),
    (5.0, 0.2, "no answer within 0.2s"),  # the inner one ends first and keeps itself
])
async def test_nested_call_deadlines_end_at_the_earlier_one(
    outer: float, inner: float, message: str
) -> None:
    started = time.monotonic()
    with pytest.raises(BackendTimeoutError) as caught:
        async with CallDeadline("b", outer, "first chunk"), CallDeadline("b", inner):
            await _after(5)
    assert time.monotonic() - started < 0.2 + SLACK
    assert message in caught.value.message


async def test_a_deadline_after_an_enclosing_one_ended_keeps_its_own_time() -> None:
    async with CallDeadline("b", 0.1):
        async with CallDeadline("b", 5.0):
            await _after(0.01)
    with pytest.raises(BackendTimeoutError):  # the 0.1 s bound above no longer applies
        async with CallDeadline("b", 0.3):
            await _after(5)
    async with CallDeadline("b", 0.1):
        pass
    await asyncio.sleep(0.15)
    async with CallDeadline("b", 5.0):  # nor does one that ended long ago
        assert await _after(0.05) == "event"


async def test_stream_clock_inside_a_shorter_deadline_ends_with_it() -> None:
    clock = StreamClock("b", _settings(timeout=5, stream_idle_timeout=5, stream_timeout=10))
    with pytest.raises(BackendTimeoutError) as caught:
        async with CallDeadline("b", 0.2, "first chunk"):
            await clock.wait(_after(5))
    assert "no first chunk within 0.2s" in caught.value.message
    assert await clock.wait(_after(0.01)) == "event"  # outside it the clock keeps its own


async def test_call_deadline_leaves_the_callers_own_cancellation_alone() -> None:
    async def call() -> None:
        async with CallDeadline("b", 5.0):
            await _after(5)

    task = asyncio.get_running_loop().create_task(call())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_stream_clock_waits_timeout_for_the_first_event() -> None:
    clock = StreamClock("b", _settings(timeout=0.3, stream_idle_timeout=5, stream_timeout=10))
    started = time.monotonic()
    with pytest.raises(BackendTimeoutError) as caught:
        await clock.wait(_after(5))
    assert 0.3 <= time.monotonic() - started < 0.3 + SLACK
    assert "no stream event within 0.3s" in caught.value.message


async def test_stream_clock_waits_the_idle_time_once_an_event_came() -> None:
    clock = StreamClock("b", _settings(timeout=5, stream_idle_timeout=0.2, stream_timeout=10))
    assert await clock.wait(_after(0.01)) == "event"
    clock.progressed()
    started = time.monotonic()
    with pytest.raises(BackendTimeoutError) as caught:
        await clock.wait(_after(5))
    assert time.monotonic() - started < 0.2 + SLACK
    assert "stream_idle_timeout (0.2s)" in caught.value.message


async def test_stream_clock_keep_alives_do_not_reset_the_idle_time() -> None:
    """Reads that bring no meaningful event (no progressed()) use up the idle time."""
    clock = StreamClock("b", _settings(timeout=5, stream_idle_timeout=0.3, stream_timeout=10))
    clock.progressed()
    started = time.monotonic()
    with pytest.raises(BackendTimeoutError):
        while True:
            await clock.wait(_after(0.05, "keep-alive"))
    assert 0.3 <= time.monotonic() - started < 0.3 + SLACK


async def test_stream_clock_meaningful_events_reset_the_idle_time() -> None:
    clock = StreamClock("b", _settings(timeout=5, stream_idle_timeout=0.15, stream_timeout=10))
    for _ in range(6):  # 0.6 s in all, each wait well within the idle time
        await clock.wait(_after(0.1))
        clock.progressed()


async def test_stream_clock_bounds_the_whole_stream() -> None:
    clock = StreamClock("b", _settings(timeout=5, stream_idle_timeout=0.3, stream_timeout=0.5))
    started = time.monotonic()
    with pytest.raises(BackendTimeoutError) as caught:
        while True:
            await clock.wait(_after(0.1))
            clock.progressed()
    assert 0.5 <= time.monotonic() - started < 0.5 + SLACK
    assert "stream_timeout (0.5s)" in caught.value.message


async def test_stream_clock_does_not_count_the_callers_own_time() -> None:
    """A caller that reads slowly does not use up the provider's time."""
    clock = StreamClock("b", _settings(timeout=5, stream_idle_timeout=0.2, stream_timeout=0.3))
    for _ in range(3):
        await clock.wait(_after(0.05))
        clock.progressed()
        await asyncio.sleep(0.2)  # the caller's own time between reads
    assert await clock.wait(_after(0.05)) == "event"


async def test_stream_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="stream_timeout"):
        BackendSettings(stream_timeout=0)
    with pytest.raises(ValueError, match="stream_idle_timeout"):
        BackendSettings(stream_idle_timeout=-1)
    defaults = BackendSettings()
    assert (defaults.stream_timeout, defaults.stream_idle_timeout) == (600.0, 30.0)
