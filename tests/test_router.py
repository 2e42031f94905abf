"""BackendRouter: selection, forced backends, fallback, errors, streaming, accounting."""

from __future__ import annotations

import asyncio

import pytest
from _support import FakeBackend, make_router, settings, unavailable
from claudette import (
    AuthenticationError,
    BackendUnavailableError,
    ClaudetteRequest,
    InvalidRequestError,
    NoBackendAvailableError,
    RateLimitError,
    StreamInterruptedError,
    hookimpl,
)
from claudette.types import BreakerPolicy

REQ = ClaudetteRequest(prompt="hello there", options={"max_tokens": 100})
#: Consecutive failures that open a breaker at the default policy.
THRESHOLD = BreakerPolicy().failure_threshold


async def test_cheapest_backend_wins_when_latency_and_failures_are_equal():
    cheap = FakeBackend("cheap", settings(cost_per_token=1e-6))
    dear = FakeBackend("dear", settings(cost_per_token=1e-5))
    router = make_router(dear, cheap)
    assert (await router.select_backend(REQ)).name == "cheap"


async def test_score_ties_go_to_lower_priority_number_then_name():
    b = FakeBackend("b", settings(priority=1))
    a = FakeBackend("a", settings(priority=2))
    c = FakeBackend("c", settings(priority=1))
    router = make_router(a, b, c)
    assert (await router.select_backend(REQ)).name == "b"
    assert (await router.select_backend(REQ, exclude_backends=["b"])).name == "c"


async def test_lower_latency_wins_when_costs_are_equal():
    slow = FakeBackend("slow")
    fast = FakeBackend("fast")
    router = make_router(slow, fast)
    slow.stats.record_success(4000.0)
    fast.stats.record_success(100.0)
    assert (await router.select_backend(REQ)).name == "fast"


async def test_forced_backend_is_used_even_when_more_expensive():
    cheap = FakeBackend("cheap", settings(cost_per_token=0.0))
    dear = FakeBackend("dear", settings(cost_per_token=1e-4))
    router = make_router(cheap, dear)
    response = await router.route_request(ClaudetteRequest(prompt="x", backend="dear"))
    assert response.backend_used == "dear"


async def test_forced_unknown_backend_names_it_and_the_registered_ones():
    router = make_router(FakeBackend("a"))
    with pytest.raises(NoBackendAvailableError, match=r"'nope' is not registered.*registered: a"):
        await router.route_request(ClaudetteRequest(prompt="x", backend="nope"))


async def test_forced_backend_with_open_breaker_fails_with_the_reason():
    a = FakeBackend("a")
    router = make_router(a, FakeBackend("b"))
    for _ in range(THRESHOLD):
        router.breaker("a").record_failure()
    with pytest.raises(NoBackendAvailableError) as info:
        await router.route_request(ClaudetteRequest(prompt="x", backend="a"))
    assert "circuit breaker open" in info.value.reasons["a"]
    assert a.calls == 0


async def test_forced_backend_failure_does_not_fall_back():
    a = FakeBackend("a", script=[unavailable("a")])
    b = FakeBackend("b")
    router = make_router(a, b)
    with pytest.raises(BackendUnavailableError):
        await router.route_request(ClaudetteRequest(prompt="x", backend="a"))
    assert b.calls == 0


async def test_retryable_failure_falls_back_to_the_next_backend():
    a = FakeBackend("a", settings(cost_per_token=0.0), script=[unavailable("a")])
    b = FakeBackend("b", settings(cost_per_token=1e-6))
    router = make_router(a, b)
    response = await router.route_request(REQ)
    assert response.backend_used == "b"
    assert response.metadata["failed_backends"] == ["a"]
    assert (a.calls, b.calls) == (1, 1)
    assert router.counters.fallbacks == 1
    assert router.counters.attempts == 2


async def test_each_backend_is_tried_at_most_once_per_request():
    backends = [FakeBackend(n, script=[unavailable(n)] * 3) for n in "abc"]
    router = make_router(*backends, max_attempts=10)
    with pytest.raises(NoBackendAvailableError) as info:
        await router.route_request(REQ)
    assert [b.calls for b in backends] == [1, 1, 1]
    assert set(info.value.reasons) == {"a", "b", "c"}
    assert "server error" in info.value.reasons["a"]


async def test_attempts_are_bounded_by_max_attempts():
    backends = [FakeBackend(n, script=[unavailable(n)]) for n in "abcd"]
    router = make_router(*backends, max_attempts=2)
    with pytest.raises(NoBackendAvailableError, match="all 2 attempts failed"):
        await router.route_request(REQ)
    assert sum(b.calls for b in backends) == 2


@pytest.mark.parametrize(
    "error",
    [
        AuthenticationError("bad key", "a", status_code=401),
        InvalidRequestError("unknown model", "a", status_code=404),
    ],
)
async def test_a_misconfigured_backend_is_skipped_and_kept_out(error):
    a = FakeBackend("a", settings(cost_per_token=0.0), script=[error])
    b = FakeBackend("b", settings(cost_per_token=1e-6))
    router = make_router(a, b)
    first = await router.route_request(REQ)
    assert first.backend_used == "b" and first.metadata["failed_backends"] == ["a"]
    assert (await router.route_request(REQ)).backend_used == "b"
    assert a.calls == 1  # kept out after its first misconfigured answer
    assert a.stats.failures == 0 and router.breaker("a").consecutive_failures == 0
    [why] = [c.skipped for c in router.explain(REQ) if c.name == "a"]
    assert why is not None and why.startswith("misconfigured, retried in ")
    assert a.get_info().misconfigured is not None


@pytest.mark.parametrize(
    "error",
    [
        InvalidRequestError("prompt is too long: 250000 tokens > 200000 maximum", "a", status_code=400),
        InvalidRequestError("Invalid schema for response_format", "a", status_code=400),
    ],
)
async def test_an_invalid_request_is_raised_at_once_without_fallback(error):
    a = FakeBackend("a", settings(cost_per_token=0.0), script=[error])
    b = FakeBackend("b", settings(cost_per_token=1e-6))
    router = make_router(a, b)
    with pytest.raises(type(error)):
        await router.route_request(REQ)
    assert b.calls == 0
    assert router.breaker_status() == {"a": "closed", "b": "closed"}
    assert a.stats.misconfigured is None


async def test_when_every_backend_is_misconfigured_the_first_error_is_raised():
    a = FakeBackend("a", settings(cost_per_token=0.0), script=[AuthenticationError("bad key", "a", status_code=401)])
    b = FakeBackend("b", settings(cost_per_token=1e-6), script=[AuthenticationError("bad key", "b", status_code=403)])
    router = make_router(a, b)
    with pytest.raises(AuthenticationError) as info:
        await router.route_request(REQ)
    assert info.value.backend == "a"


async def test_client_errors_never_count_as_breaker_failures():
    a = FakeBackend("a", script=[InvalidRequestError("bad", "a", status_code=400)] * 6)
    router = make_router(a)
    for _ in range(6):
        with pytest.raises(InvalidRequestError):
            await router.route_request(REQ)
    assert router.breaker("a").consecutive_failures == 0
    assert router.breaker_status() == {"a": "closed"}
    assert a.stats.failures == 0


async def test_fallback_disabled_raises_the_first_retryable_error():
    a = FakeBackend("a", settings(cost_per_token=0.0), script=[unavailable("a")])
    b = FakeBackend("b", settings(cost_per_token=1e-6))
    router = make_router(a, b, fallback_enabled=False)
    with pytest.raises(BackendUnavailableError, match="server error"):
        await router.route_request(REQ)
    assert b.calls == 0


async def test_no_backend_registered_is_a_clear_error():
    router = make_router()
    with pytest.raises(NoBackendAvailableError, match="no backend is registered"):
        await router.route_request(REQ)


async def test_no_usable_backend_lists_every_backend_and_why():
    off = FakeBackend("off", settings(enabled=False))
    sick = FakeBackend("sick")
    opened = FakeBackend("opened")
    router = make_router(off, sick, opened)
    sick.stats.healthy = False
    for _ in range(THRESHOLD):
        router.breaker("opened").record_failure()
    assert await router.breaker("opened").acquire_early()  # a probe in flight elsewhere
    with pytest.raises(NoBackendAvailableError) as info:
        await router.route_request(REQ)
    assert info.value.reasons == {
        "off": "disabled",
        "sick": "failed its last health check",
        "opened": info.value.reasons["opened"],
    }
    assert info.value.reasons["opened"].startswith("circuit breaker open")
    assert opened.calls == 0


async def test_unhealthy_backend_is_filtered_out():
    a = FakeBackend("a", settings(cost_per_token=0.0))
    b = FakeBackend("b", settings(cost_per_token=1e-6))
    router = make_router(a, b)
    a.stats.healthy = False
    assert (await router.select_backend(REQ)).name == "b"


async def test_rate_limit_retry_after_keeps_the_backend_out_that_long():
    a = FakeBackend("a", settings(cost_per_token=0.0), script=[RateLimitError("slow down", "a", status_code=429, retry_after=30)])
    b = FakeBackend("b", settings(cost_per_token=1e-6))
    router = make_router(a, b)
    assert (await router.route_request(REQ)).backend_used == "b"
    assert (await router.route_request(REQ)).backend_used == "b"
    assert a.calls == 1
    assert router.stats()["backends"]["a"]["cooldown_s"] > 29


async def test_request_waits_for_a_brief_cooldown_instead_of_failing():
    a = FakeBackend("a")
    router = make_router(a, max_cooldown_wait=2.0)
    a.stats.start_cooldown(0.2)
    loop = asyncio.get_running_loop()
    start = loop.time()
    response = await router.route_request(REQ)
    assert response.backend_used == "a"
    assert 0.15 <= loop.time() - start < 1.5


async def test_request_does_not_wait_for_a_cooldown_longer_than_allowed():
    a = FakeBackend("a")
    router = make_router(a, max_cooldown_wait=0.5)
    a.stats.start_cooldown(10)
    with pytest.raises(NoBackendAvailableError, match="rate limited"):
        await router.route_request(REQ)


async def test_threshold_failures_open_the_breaker_and_stop_calls():
    a = FakeBackend("a", script=[unavailable("a")] * 30)
    router = make_router(a, fallback_enabled=False)
    for _ in range(THRESHOLD):
        with pytest.raises(BackendUnavailableError):
            await router.route_request(REQ)
    assert router.breaker_status()["a"] == "open"
    router.register_backend(FakeBackend("b"))
    for _ in range(5):
        assert (await router.route_request(REQ)).backend_used == "b"
    assert a.calls == THRESHOLD


async def test_when_every_breaker_is_open_one_request_probes_the_soonest():
    a = FakeBackend("a", settings(cost_per_token=0.0))
    b = FakeBackend("b", settings(cost_per_token=1e-6))
    router = make_router(a, b)
    for _ in range(THRESHOLD):
        router.breaker("b").record_failure()
    for _ in range(THRESHOLD):
        router.breaker("a").record_failure()  # opened last: its open period ends last
    assert set(router.breaker_status().values()) == {"open"}
    response = await router.route_request(REQ)
    assert response.backend_used == "b"
    assert router.counters.panic_probes == 1
    assert router.breaker_status() == {"a": "open", "b": "closed"}
    assert a.calls == 0


async def test_cost_and_tokens_are_accounted_from_reported_usage():
    a = FakeBackend("a", settings(input_cost_per_token=1e-6, output_cost_per_token=2e-6))
    router = make_router(a)
    response = await router.route_request(REQ)
    assert response.tokens_input == 10 and response.tokens_output == 5
    assert response.cost_eur == pytest.approx(10 * 1e-6 + 5 * 2e-6)
    assert router.counters.cost_eur == pytest.approx(response.cost_eur)
    assert router.counters.tokens_input == 10


async def test_unexpected_exception_in_a_backend_becomes_a_backend_error_and_falls_back():
    a = FakeBackend("a", settings(cost_per_token=0.0), script=[KeyError("choices")])
    b = FakeBackend("b", settings(cost_per_token=1e-6))
    router = make_router(a, b)
    assert (await router.route_request(REQ)).backend_used == "b"
    assert a.stats.failures == 1


async def test_a_hanging_backend_is_cut_off_at_its_timeout_and_falls_back():
    a = FakeBackend("a", settings(cost_per_token=0.0, timeout=0.2), delay=5)
    b = FakeBackend("b", settings(cost_per_token=1e-6))
    router = make_router(a, b)
    response = await router.route_request(REQ)
    assert response.backend_used == "b"
    assert a.stats.failures == 1


async def test_cancelled_request_is_not_a_failure_and_frees_in_flight():
    a = FakeBackend("a", delay=5)
    router = make_router(a)
    task = asyncio.create_task(router.route_request(REQ))
    await asyncio.sleep(0.05)
    assert a.stats.in_flight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert a.stats.in_flight == 0
    assert a.stats.failures == 0
    assert router.breaker("a").consecutive_failures == 0


async def test_stream_yields_chunks_then_a_final_response():
    router = make_router(FakeBackend("a"))
    chunks = [c async for c in router.stream(REQ)]
    assert chunks[-1].is_final
    assert "".join(c.text for c in chunks) == chunks[-1].response.content == "answer from a"
    assert router.counters.successes == 1


async def test_stream_falls_back_before_the_first_chunk():
    a = FakeBackend("a", settings(cost_per_token=0.0), script=[unavailable("a")])
    b = FakeBackend("b", settings(cost_per_token=1e-6))
    router = make_router(a, b)
    chunks = [c async for c in router.stream(REQ)]
    assert {c.backend for c in chunks} == {"b"}


async def test_stream_final_response_lists_the_backends_that_failed_before_it():
    a = FakeBackend("a", settings(cost_per_token=0.0), script=[unavailable("a")])
    b = FakeBackend("b", settings(cost_per_token=1e-6))
    router = make_router(a, b)
    chunks = [c async for c in router.stream(REQ)]
    assert chunks[-1].response.metadata["failed_backends"] == ["a"]
    assert router.counters.fallbacks == 1


async def test_stream_failure_after_first_chunk_raises_with_partial_text():
    err = unavailable("a")
    err.mid_stream = True
    a = FakeBackend("a", settings(cost_per_token=0.0), script=[err])
    b = FakeBackend("b", settings(cost_per_token=1e-6))
    router = make_router(a, b)
    received = []
    with pytest.raises(StreamInterruptedError) as info:
        async for chunk in router.stream(REQ):
            received.append(chunk.text)
    assert info.value.partial_text == "".join(received) != ""
    assert info.value.backend == "a"
    assert b.calls == 0
    assert a.stats.failures == 1


async def test_closing_a_stream_early_is_not_a_failure():
    a = FakeBackend("a", delay=0.01)
    router = make_router(a)
    agen = router.stream(REQ)
    first = await agen.__anext__()
    assert first.text
    await agen.aclose()
    assert a.stats.failures == 0
    assert a.stats.in_flight == 0


async def test_a_stream_read_up_to_its_final_chunk_is_a_success_and_released():
    class Tracked(FakeBackend):
        closed = 0

        async def stream(self, request):
            try:
                async for chunk in super().stream(request):
                    yield chunk
            finally:
                type(self).closed += 1

    a = Tracked("a")
    router = make_router(a)
    agen = router.stream(REQ)
    async for chunk in agen:
        if chunk.is_final:
            assert Tracked.closed == 1  # the backend's stream ended before the caller got it
            break  # and the caller does not ask for more
    await agen.aclose()
    assert router.counters.successes == 1
    assert router.counters.failures == 0
    assert a.stats.in_flight == 0
    assert a.stats.successes == 1


async def test_a_stream_whose_first_chunk_is_late_times_out_and_falls_back():
    a = FakeBackend("a", settings(cost_per_token=0.0, timeout=0.1), delay=5)
    b = FakeBackend("b", settings(cost_per_token=1e-6))
    router = make_router(a, b)
    chunks = [c async for c in router.stream(REQ)]
    assert chunks[-1].response.backend_used == "b"
    assert a.stats.failures == 1
    assert a.stats.in_flight == 0
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_scoring_plugin_overrides_the_default_formula():
    class PreferZ:
        @hookimpl
        def claudette_score_backend(self, backend, request, stats, options):
            return 0.0 if backend.name == "z" else 1.0

    router = make_router(FakeBackend("a", settings(cost_per_token=0.0)), FakeBackend("z", settings(cost_per_token=1e-3)), plugins=[PreferZ()])
    assert (await router.select_backend(REQ)).name == "z"


async def test_scoring_plugin_returning_none_defers_to_the_default():
    class Abstain:
        @hookimpl
        def claudette_score_backend(self, backend, request, stats, options):
            return None

    router = make_router(FakeBackend("a", settings(cost_per_token=0.0)), FakeBackend("z", settings(cost_per_token=1e-3)), plugins=[Abstain()])
    assert (await router.select_backend(REQ)).name == "a"


async def test_attempt_observer_sees_every_attempt_with_outcome():
    seen = []

    class Observer:
        @hookimpl
        def claudette_after_attempt(self, backend, request, response, error, latency_ms):
            seen.append((backend.name, response is not None, type(error).__name__ if error else None))

    a = FakeBackend("a", settings(cost_per_token=0.0), script=[unavailable("a")])
    b = FakeBackend("b", settings(cost_per_token=1e-6))
    router = make_router(a, b, plugins=[Observer()])
    await router.route_request(REQ)
    assert seen == [("a", False, "BackendUnavailableError"), ("b", True, None)]


async def test_a_failing_observer_never_fails_the_request():
    class Broken:
        @hookimpl
        def claudette_after_attempt(self, backend, request, response, error, latency_ms):
            raise RuntimeError("observer bug")

    router = make_router(FakeBackend("a"), plugins=[Broken()])
    assert (await router.route_request(REQ)).backend_used == "a"


async def test_breaker_transitions_reach_the_transition_hook():
    moves = []

    class Watch:
        @hookimpl
        def claudette_breaker_transition(self, backend_name, old_state, new_state):
            moves.append((backend_name, old_state, new_state))

    a = FakeBackend("a", script=[unavailable("a")] * THRESHOLD)
    router = make_router(a, plugins=[Watch()], fallback_enabled=False)
    for _ in range(THRESHOLD):
        with pytest.raises(BackendUnavailableError):
            await router.route_request(REQ)
    assert moves == [("a", "closed", "open")]


async def test_health_checks_run_in_background_and_filter_failing_backends():
    a = FakeBackend("a", settings(cost_per_token=0.0), healthy=False)
    b = FakeBackend("b", settings(cost_per_token=1e-6))
    router = make_router(a, b, health_checks=True)
    # The first selection trusts both (no result yet) and starts the checks.
    assert (await router.select_backend(REQ)).name == "a"
    await asyncio.sleep(0.05)
    assert (await router.select_backend(REQ)).name == "b"
    assert a.health_calls == 1
    await router.aclose()


async def test_a_registered_backend_keeps_its_stats_in_the_routers_store():
    a = FakeBackend("a")
    router = make_router(a)
    assert a.stats is router.store.stats("a")
    await router.route_request(REQ)
    assert router.store.stats("a").successes == 1


async def test_duplicate_backend_name_is_rejected():
    router = make_router(FakeBackend("a"))
    with pytest.raises(ValueError, match="already registered"):
        router.register_backend(FakeBackend("a"))


async def test_explain_lists_score_parts_and_skip_reasons():
    a = FakeBackend("a", settings(cost_per_token=0.0))
    b = FakeBackend("b", settings(enabled=False))
    router = make_router(a, b)
    candidates = {c.name: c for c in router.explain(REQ)}
    assert candidates["a"].chosen and candidates["a"].parts.cost == 0.0
    assert candidates["b"].skipped == "disabled" and not candidates["b"].chosen


class _CountingScorer:
    def __init__(self) -> None:
        self.scored: list[str] = []

    @hookimpl
    def claudette_score_backend(self, backend, request, stats, options):  # type: ignore[no-untyped-def]
        self.scored.append(backend.name)
        return None  # defer to the built-in formula


async def test_scoring_runs_only_when_there_is_a_choice_to_make():
    scorer = _CountingScorer()
    only = FakeBackend("only")
    router = make_router(only, FakeBackend("off", settings(enabled=False)), plugins=[scorer])
    assert (await router.select_backend(REQ)).name == "only"
    assert scorer.scored == []  # a lone usable backend wins without a score

    [candidate] = [c for c in router.explain(REQ) if c.name == "only"]
    assert candidate.chosen and candidate.score is not None and scorer.scored == ["only"]

    scorer.scored.clear()
    router.register_backend(FakeBackend("other"))
    await router.select_backend(REQ)
    assert sorted(scorer.scored) == ["only", "other"]
