"""What observers are told of each request: start, attempts, breaker moves, end.

The hooks ``claudette_request_start`` / ``claudette_request_end`` and the ``context``
argument of the attempt and breaker observers, as the router calls them; the fallback
decisions in ``explain(request, response)`` and in the log.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from _support import FakeBackend, make_router, settings, unavailable
from claudette import (
    BackendUnavailableError,
    BreakerPolicy,
    ClaudettePlugins,
    ClaudetteRequest,
    InvalidRequestError,
    NoBackendAvailableError,
    RequestContext,
    hookimpl,
)
from claudette.router.selection import Candidate, with_outcome

REQ = ClaudetteRequest(prompt="hello")


class Recorder:
    """Every observer hook, recorded in order with what it was given."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    @hookimpl
    def claudette_request_start(self, context: RequestContext) -> None:
        context.state["recorder"] = len(self.events)
        self.events.append(("start", context, context.attempt))

    @hookimpl
    def claudette_after_attempt(self, backend: Any, response: Any, error: Any, context: RequestContext) -> None:
        self.events.append((
            "attempt", backend.name, context.attempt, context.fallback_from,
            context.breaker_state, response is not None, type(error).__name__ if error else None,
        ))

    @hookimpl
    def claudette_breaker_transition(self, backend_name: str, new_state: str, context: RequestContext | None) -> None:
        self.events.append(("breaker", backend_name, new_state, context.attempt if context else None))

    @hookimpl
    def claudette_request_end(self, context: RequestContext, response: Any, error: Any) -> None:
        self.events.append((
            "end", context.outcome, response.backend_used if response else None,
            type(error).__name__ if error else None, dict(context.failures),
        ))

    def names(self) -> list[str]:
        return [e[0] for e in self.events]


#: Failures in a row that open a breaker at the default policy.
THRESHOLD = BreakerPolicy().failure_threshold


def two_backends(*script_a: Any) -> tuple[FakeBackend, FakeBackend]:
    a = FakeBackend("a", settings(cost_per_token=0.0), script=list(script_a))
    b = FakeBackend("b", settings(cost_per_token=1e-6))
    return a, b


async def test_a_request_is_observed_from_start_to_end_with_each_attempt() -> None:
    recorder = Recorder()
    router = make_router(*two_backends(unavailable("a")), plugins=[recorder])

    response = await router.route_request(REQ)

    start, *rest = recorder.events
    context = start[1]
    assert start[2] == 0  # no attempt yet
    assert rest == [
        ("attempt", "a", 1, None, "closed", False, "BackendUnavailableError"),
        ("attempt", "b", 2, "a", "closed", True, None),
        ("end", "success", "b", None, {"a": str(unavailable("a"))}),
    ]
    assert context.request is REQ and context.stream is False
    assert context.state["recorder"] == 0
    assert response.metadata["backend_failures"] == {"a": str(unavailable("a"))}
    assert response.metadata["failed_backends"] == ["a"]


async def test_the_fallback_origin_is_set_on_the_first_attempt_after_it_only() -> None:
    recorder = Recorder()
    a, b = two_backends(unavailable("a"))
    b.settings = settings(cost_per_token=1e-6, max_retries=1)
    b.script = [unavailable("b")]
    router = make_router(a, b, plugins=[recorder], max_retry_wait=5.0)

    await router.route_request(REQ)

    attempts = [e[1:4] for e in recorder.events if e[0] == "attempt"]
    assert attempts == [("a", 1, None), ("b", 2, "a"), ("b", 3, None)]  # the retry is no fallback


async def test_a_failed_request_ends_with_its_error() -> None:
    recorder = Recorder()
    router = make_router(*two_backends(unavailable("a")), plugins=[recorder])
    router.get_backend("b").script = [unavailable("b")]

    with pytest.raises(NoBackendAvailableError):
        await router.route_request(REQ)

    assert recorder.events[-1][:4] == ("end", "error", None, "NoBackendAvailableError")
    assert list(recorder.events[-1][4]) == ["a", "b"]


async def test_a_non_retryable_failure_ends_the_request_at_once() -> None:
    recorder = Recorder()
    bad = InvalidRequestError("bad request", "a", False, 400)
    router = make_router(*two_backends(bad), plugins=[recorder])

    with pytest.raises(InvalidRequestError):
        await router.route_request(REQ)

    assert recorder.names() == ["start", "attempt", "end"]
    assert recorder.events[-1][:4] == ("end", "error", None, "InvalidRequestError")


async def test_a_cancelled_request_ends_cancelled() -> None:
    recorder = Recorder()
    slow = FakeBackend("a", delay=5.0)
    router = make_router(slow, plugins=[recorder])

    task = asyncio.create_task(router.route_request(REQ))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert recorder.names() == ["start", "end"]  # a cancelled attempt is not reported
    assert recorder.events[-1][:4] == ("end", "cancelled", None, None)


async def test_a_stream_ends_when_its_last_chunk_is_ready_and_only_once() -> None:
    recorder = Recorder()
    router = make_router(*two_backends(unavailable("a")), plugins=[recorder])
    seen_before_last: list[list[str]] = []

    async for chunk in router.stream(REQ):
        if chunk.response is None:
            seen_before_last.append(recorder.names())

    assert all("end" not in names for names in seen_before_last)
    assert recorder.names() == ["start", "attempt", "attempt", "end"]
    context = recorder.events[0][1]
    assert context.stream is True
    assert context.first_chunk_ms is not None and context.first_chunk_ms > 0
    assert recorder.events[-1][:3] == ("end", "success", "b")


async def test_a_stream_whose_reader_leaves_ends_cancelled() -> None:
    recorder = Recorder()
    router = make_router(FakeBackend("a"), plugins=[recorder])
    stream = router.stream(REQ)

    await anext(stream)
    await stream.aclose()

    assert recorder.names() == ["start", "end"]
    assert recorder.events[-1][:2] == ("end", "cancelled")


async def test_a_stream_whose_reader_leaves_at_the_last_chunk_has_ended_already() -> None:
    recorder = Recorder()
    router = make_router(FakeBackend("a", chunks=1), plugins=[recorder])
    stream = router.stream(REQ)

    chunks = [await anext(stream), await anext(stream)]
    await stream.aclose()

    assert chunks[-1].response is not None
    assert recorder.names() == ["start", "attempt", "end"]
    assert recorder.events[-1][:2] == ("end", "success")


async def test_a_breaker_move_names_the_request_whose_attempt_made_it() -> None:
    recorder = Recorder()

    class OneStrike:
        @hookimpl
        def claudette_breaker_policy(self) -> BreakerPolicy:
            return BreakerPolicy(failure_threshold=1)

    router = make_router(*two_backends(unavailable("a")), plugins=[recorder, OneStrike()])

    await router.route_request(REQ)

    assert recorder.names() == ["start", "breaker", "attempt", "attempt", "end"]
    assert recorder.events[1] == ("breaker", "a", "open", 1)
    assert recorder.events[2][4] == "open"  # the attempt saw the breaker it left


async def test_at_the_default_policy_the_threshold_failure_opens_the_breaker_within_its_request() -> None:
    class Flat:
        """Every backend scores alike: ties go to ``a``, which keeps being tried."""

        @hookimpl
        def claudette_score_backend(self) -> float:
            return 0.0

    recorder = Recorder()
    router = make_router(*two_backends(*[unavailable("a")] * THRESHOLD), plugins=[recorder, Flat()])

    for _ in range(THRESHOLD):
        await router.route_request(REQ)

    moves = [e for e in recorder.events if e[0] == "breaker"]
    assert moves == [("breaker", "a", "open", 1)]
    starts = [i for i, e in enumerate(recorder.events) if e[0] == "start"]
    assert recorder.events.index(moves[0]) > starts[-1]  # during the last request


async def test_a_breaker_moved_by_time_has_no_request() -> None:
    recorder = Recorder()
    now = [0.0]

    class Quick:
        @hookimpl
        def claudette_breaker_policy(self) -> BreakerPolicy:
            return BreakerPolicy(failure_threshold=1, reset_timeout=10.0)

    router = make_router(FakeBackend("a"), plugins=[recorder, Quick()])
    breaker = router.breaker("a")
    breaker._clock = lambda: now[0]  # the test's clock; a private field of claudette's own
    breaker.record_failure()
    now[0] = 11.0

    assert breaker.state.value == "half_open"
    assert [e for e in recorder.events if e[0] == "breaker"] == [
        ("breaker", "a", "open", None), ("breaker", "a", "half_open", None),
    ]


async def test_observers_written_without_the_context_argument_still_work() -> None:
    seen: list[Any] = []

    class Old:
        @hookimpl
        def claudette_after_attempt(self, backend, request, response, error, latency_ms):
            seen.append(("attempt", backend.name))

        @hookimpl
        def claudette_breaker_transition(self, backend_name, old_state, new_state):
            seen.append(("breaker", backend_name, new_state))

    router = make_router(
        FakeBackend("a", script=[unavailable("a")] * THRESHOLD), plugins=[Old()], fallback_enabled=False
    )
    for _ in range(THRESHOLD):
        with pytest.raises(BackendUnavailableError):
            await router.route_request(REQ)

    assert seen.count(("attempt", "a")) == THRESHOLD and seen[-2:] == [("breaker", "a", "open"), ("attempt", "a")]


async def test_request_observers_that_raise_never_fail_the_request(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        @hookimpl
        def claudette_request_start(self, context):
            raise RuntimeError("start bug")

        @hookimpl
        def claudette_request_end(self, context):
            raise RuntimeError("end bug")

    router = make_router(FakeBackend("a"), plugins=[Broken()])
    with caplog.at_level(logging.ERROR, logger="claudette"):
        response = await router.route_request(REQ)

    assert response.backend_used == "a"
    assert "claudette_request_start" in caplog.text and "claudette_request_end" in caplog.text


def test_the_request_hooks_refuse_a_wrapper() -> None:
    class Wrapping:
        @hookimpl(wrapper=True)
        def claudette_request_end(self):
            return (yield)

    with pytest.raises(Exception, match="claudette_request_end is called one plugin at a time"):
        ClaudettePlugins(autoload=False, plugins=[Wrapping()])


def test_the_request_id_is_made_once_and_unique() -> None:
    one, two = RequestContext(REQ), RequestContext(REQ)

    assert one.request_id == one.request_id
    assert one.request_id != two.request_id
    assert len(one.request_id) == 32 and int(one.request_id, 16) >= 0


async def test_a_batch_attempt_gets_a_context_of_its_own() -> None:
    recorder = Recorder()
    router = make_router(FakeBackend("a"), plugins=[recorder])
    backend = router.get_backend("a")

    assert await router.breaker("a").acquire()
    async with router.attempt(backend, REQ) as attempt:
        attempt.succeeded(await backend.send(REQ))

    assert recorder.events == [("attempt", "a", 1, None, "closed", True, None)]


# -- explain(request, response) and the log -----------------------------------------------------


async def test_explain_with_the_answer_marks_the_failed_backend_and_the_one_that_answered() -> None:
    router = make_router(*two_backends(unavailable("a")))
    before = router.explain(REQ)

    response = await router.route_request(REQ)
    after = router.explain(REQ, response)

    assert [(c.name, c.chosen, c.failed) for c in before] == [("a", True, None), ("b", False, None)]
    assert [(c.name, c.chosen, c.failed) for c in after] == [("a", False, str(unavailable("a"))), ("b", True, None)]


def test_with_outcome_leaves_a_request_that_did_not_fall_back_as_selection_saw_it() -> None:
    from claudette import ClaudetteResponse

    candidates = [Candidate("a", 0.1, None, None, chosen=True), Candidate("b", 0.2, None, None)]

    marked = with_outcome(candidates, ClaudetteResponse(content="x", backend_used="a"))

    assert marked == candidates


async def test_each_fallback_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    router = make_router(*two_backends(unavailable("a")))

    with caplog.at_level(logging.INFO, logger="claudette"):
        await router.route_request(REQ)

    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "routing to a"
    assert f"a failed, looking for another backend: {unavailable('a')}" in messages
    assert "falling back to b" in messages
    assert f"b answered after a failed: {unavailable('a')}" in messages


async def test_a_continued_stream_is_one_request_with_an_attempt_per_backend() -> None:
    recorder = Recorder()
    cut = unavailable("a")
    cut.mid_stream = True  # FakeBackend fails after its first chunk
    router = make_router(*two_backends(cut), plugins=[recorder], stream_continuation=True)

    chunks = [chunk async for chunk in router.stream(REQ)]

    assert chunks[-1].response is not None and chunks[-1].response.backend_used == "b"
    assert recorder.names() == ["start", "attempt", "attempt", "end"]
    assert [e[1:4] for e in recorder.events if e[0] == "attempt"] == [("a", 1, None), ("b", 2, "a")]
    assert recorder.events[-1][:3] == ("end", "success", "b")
    assert recorder.events[0][1].first_chunk_ms is not None
