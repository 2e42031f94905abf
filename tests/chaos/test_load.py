"""Chaos and load: 10,000 requests (half streamed) at concurrency 100 on four faulty emulators.

Every request must end, within its bound, in a response or a typed claudette error; none
may hang, be lost or be answered twice; and the emulators' own logs must reconcile with
the router's accounting (attempts, successes, fallbacks, tokens, cost). A second, cached
run checks that cache hits cost nothing and never reach a provider. The figures go to
``$CLAUDETTE_CHAOS_REPORT`` (JSON) when set; ``$CLAUDETTE_CHAOS_REQUESTS`` scales the run.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from _chaos_support import PolicyPlugin, fault_plan, open_fds, write_report
from _providers import NAMES, PRICES, Provider, four_providers, tag_of_text
from claudette import ClaudetteRequest
from claudette.errors import BackendError, NoBackendAvailableError
from claudette.hookspecs import hookimpl
from claudette.router import BackendRouter
from claudette.testing.pytest_plugin import build_router
from claudette.types import BreakerPolicy, CacheOptions, ClaudetteResponse, RouterOptions

SEED = 20251125
REQUESTS = int(os.environ.get("CLAUDETTE_CHAOS_REQUESTS", "10000"))
CONCURRENCY = 100
MAX_ATTEMPTS = 4
COOLDOWN_WAIT = 1.0
#: Per-attempt fault probabilities at every backend (about 20 % of attempts fail).
FAULT_RATES = {
    "http_500": 0.03,
    "rate_limit": 0.02,
    "overloaded": 0.03,
    "reset": 0.03,
    "hang": 0.003,
    "truncated_json": 0.03,
    "stream_cut": 0.03,
    "error_after_200": 0.03,
}
#: Breakers that open after 5 consecutive failures and probe again after half a second,
#: so that the run goes through every transition many times.
POLICY = BreakerPolicy(failure_threshold=5, reset_timeout=0.5)
MARGIN = 3.0
#: Seconds one attempt may take: generous, so that only the scripted hangs time out even
#: on a busy 2-core machine; a hang lasts a little longer than that.
TIMEOUT = 10.0


@pytest.fixture
def providers() -> Iterator[dict[str, Provider]]:
    """The four emulators with the load run's timeout."""
    with four_providers(timeout=TIMEOUT, hang=TIMEOUT + 0.5, retry_after=0.2) as started:
        yield started


@attrs.define
class Outcome:
    """How one request ended."""

    index: int
    streamed: bool
    elapsed: float
    response: ClaudetteResponse | None = None
    error: BaseException | None = None
    finals: int = 0
    chunk_text: str = ""


def _bound(providers: dict[str, Provider]) -> float:
    timeout = max(p.timeout for p in providers.values())
    return timeout * MAX_ATTEMPTS + COOLDOWN_WAIT + MARGIN


async def _one(router: BackendRouter, i: int, streamed: bool, guard: float) -> Outcome:
    request = ClaudetteRequest(prompt=f"req-{i} please describe chaos engineering in a few words")
    started = time.monotonic()
    outcome = Outcome(i, streamed, 0.0)
    try:
        async with asyncio.timeout(guard):
            if streamed:
                texts: list[str] = []
                async for chunk in router.stream(request):
                    assert outcome.finals == 0, "a chunk arrived after the final one"
                    texts.append(chunk.text)
                    if chunk.response is not None:
                        outcome.finals += 1
                        outcome.response = chunk.response
                outcome.chunk_text = "".join(texts)
            else:
                outcome.response = await router.route_request(request)
                outcome.finals = 1
    except TimeoutError as exc:  # the guard: a hung request, reported as such
        outcome.error = exc
    except Exception as exc:  # every other kind is examined by the test
        outcome.error = exc
    outcome.elapsed = time.monotonic() - started
    return outcome


async def _run(router: BackendRouter, n: int, *, stream_every: int, bound: float) -> tuple[list[Outcome], float]:
    sem = asyncio.Semaphore(CONCURRENCY)

    async def limited(i: int) -> Outcome:
        async with sem:
            return await _one(router, i, stream_every > 0 and i % stream_every == 1, bound + 10)

    started = time.monotonic()
    outcomes = await asyncio.gather(*(limited(i) for i in range(n)))
    return list(outcomes), time.monotonic() - started


def _plan(providers: dict[str, Provider]) -> None:
    for name, provider in providers.items():
        provider.plan(fault_plan(SEED, name, FAULT_RATES))


def _check_outcomes(outcomes: list[Outcome], n: int, bound: float) -> Counter[str]:
    """Every request ended once, in time, in a response or a typed error."""
    assert sorted(o.index for o in outcomes) == list(range(n)), "a request was lost"
    kinds: Counter[str] = Counter()
    for o in outcomes:
        assert o.elapsed <= bound, f"request {o.index} took {o.elapsed:.1f}s (bound {bound:.1f}s)"
        if o.error is not None:
            assert isinstance(o.error, (BackendError, NoBackendAvailableError)), (
                f"request {o.index} ended in {type(o.error).__name__}: {o.error}"
            )
            kinds[type(o.error).__name__] += 1
            continue
        assert o.response is not None and o.finals == 1, f"request {o.index} answered {o.finals} times"
        assert tag_of_text(o.response.content) == o.index, "an answer went to the wrong request"
        if o.streamed:
            assert o.chunk_text == o.response.content, "the chunks differ from the final answer"
        kinds["response"] += 1
    return kinds


class AttemptLog:
    """A ``claudette_after_attempt`` observer: how every attempt ended, by backend and tag."""

    def __init__(self) -> None:
        self.ended: dict[tuple[str, int | None], list[str]] = {}

    @hookimpl
    def claudette_after_attempt(self, backend: Any, request: Any, response: Any, error: Any, latency_ms: float) -> None:
        """Remember one attempt's outcome: ``ok`` or the error's class name."""
        key = (backend.name, tag_of_text(request.prompt or ""))
        self.ended.setdefault(key, []).append("ok" if error is None else type(error).__name__)

    @property
    def count(self) -> int:
        """Attempts observed."""
        return sum(len(v) for v in self.ended.values())


def _reconcile(
    router: BackendRouter, providers: dict[str, Provider], outcomes: list[Outcome], observer: AttemptLog
) -> dict[str, Any]:
    """The emulators' logs agree with the router's accounting, attempt by attempt.

    The one allowed difference is an attempt the router gave up on at its timeout while
    the emulator had not read it yet, or had answered it too late (a starved machine):
    such an attempt must have ended in ``BackendTimeoutError``, and it is reported.
    """
    c = router.counters
    stats = router.stats()["backends"]
    usage = {name: providers[name].usage() for name in NAMES}
    logged: dict[tuple[str, int | None], list[Any]] = {}
    for name in NAMES:
        for log in providers[name].records():
            logged.setdefault((name, log.tag), []).append(log)
    responses = [o.response for o in outcomes if o.response is not None]
    live = [r for r in responses if not r.cache_hit]

    assert c.requests == len(outcomes)
    assert c.successes == len(responses)
    assert c.failures == len(outcomes) - len(responses)
    assert c.cache_hits == len(responses) - len(live)
    assert c.attempts == observer.count
    assert None not in {tag for _, tag in logged}, "a chat request without its tag reached an emulator"
    unreached = late = 0
    tokens_in = tokens_out = 0
    answered: Counter[tuple[str, int | None]] = Counter()
    for key in set(observer.ended) | set(logged):
        ours, theirs = observer.ended.get(key, []), logged.get(key, [])
        assert len(ours) <= 1 and len(theirs) <= 1, f"{key} was tried twice on one backend"
        ok = ours == ["ok"]
        completed = bool(theirs) and theirs[0].completed
        if ok:
            assert completed, f"{key}: the router took an answer the emulator never completed"
            tokens_in += theirs[0].tokens_input
            tokens_out += theirs[0].tokens_output
            answered[key] += 1
        elif not theirs or completed:
            assert ours == ["BackendTimeoutError"], f"{key}: router {ours}, emulator {theirs}"
            unreached += not theirs
            late += completed
        else:
            assert ours, f"{key}: the emulator saw an attempt the router never counted"
    assert c.attempts == sum(u.requests for u in usage.values()) + unreached
    for name in NAMES:
        assert stats[name]["in_flight"] == 0, name
        assert stats[name]["calls"] == sum(1 for k in observer.ended if k[0] == name), name
    # Each live answer came from the one attempt that succeeded, at the backend it names.
    assert Counter((r.backend_used, tag_of_text(r.content)) for r in live) == answered
    # Fallbacks: every attempt after a request's first.
    per_request: Counter[int | None] = Counter(tag for _, tag in observer.ended)
    assert c.fallbacks == sum(n - 1 for n in per_request.values())
    # Tokens and cost: the router's totals are what the providers reported for them.
    assert (c.tokens_input, c.tokens_output) == (tokens_in, tokens_out)
    assert (sum(r.tokens_input for r in live), sum(r.tokens_output for r in live)) == (tokens_in, tokens_out)
    cost = 0.0
    for name, tag in answered:
        log = logged[(name, tag)][0]
        cost += log.tokens_input * PRICES[name][0] + log.tokens_output * PRICES[name][1]
    assert c.cost_eur == pytest.approx(cost, rel=1e-9)
    assert sum(r.cost_eur for r in responses) == pytest.approx(cost, rel=1e-9)
    assert all(r.cost_eur == 0.0 for r in responses if r.cache_hit)
    faults: Counter[str] = Counter()
    for (name, tag), logs in logged.items():  # what the plan injected, in the words
        kind = fault_plan(SEED, name, FAULT_RATES)(tag)
        if kind is not None:
            faults[kind] += len(logs)
    return {
        "attempts": c.attempts,
        "fallbacks": c.fallbacks,
        "successes": c.successes,
        "failures": c.failures,
        "cache_hits": c.cache_hits,
        "tokens_input": c.tokens_input,
        "tokens_output": c.tokens_output,
        "cost_eur": round(c.cost_eur, 9),
        "faults_injected": dict(sorted(faults.items())),
        "faults_total": sum(faults.values()),
        "attempts_per_backend": {n: usage[n].requests for n in NAMES},
        "answers_per_backend": {n: usage[n].completed for n in NAMES},
        "timed_out_before_the_emulator_read_them": unreached,
        "answered_after_the_router_timed_out": late,
    }


def _latency_figures(outcomes: list[Outcome]) -> dict[str, float]:
    times = sorted(o.elapsed for o in outcomes)
    return {
        "p50_s": round(times[len(times) // 2], 3),
        "p99_s": round(times[int(len(times) * 0.99)], 3),
        "max_s": round(times[-1], 3),
    }


async def _settle(baseline: int, slack: int, seconds: float) -> int:
    """Wait (bounded) for the server-side sockets of finished requests to close."""
    deadline = time.monotonic() + seconds
    while open_fds() > baseline + slack and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return open_fds()


@pytest.mark.parametrize(
    ("policy", "share", "section"),
    [(POLICY, 1, "load"), (None, 4, "load_default_breakers")],
    ids=["fast-breakers", "default-breakers"],
)
async def test_ten_thousand_requests_under_chaos_end_once_in_time_and_reconcile(providers, policy, share, section):
    """The issue's load run: nothing hangs, nothing is lost or answered twice, all adds up,
    and no descriptor, task or unclosed resource is left behind. Once with breakers that
    go through every transition many times, once (a quarter of the requests) with the
    default breaker policy."""
    _plan(providers)
    requests = REQUESTS // share
    plugins: list[Any] = [] if policy is None else [PolicyPlugin(policy)]
    options = RouterOptions(health_checks=False, max_attempts=MAX_ATTEMPTS, max_cooldown_wait=COOLDOWN_WAIT)
    bound = _bound(providers)
    gc.collect()
    fds_before = open_fds()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        observer = AttemptLog()
        router = build_router(
            *(providers[n].backend() for n in NAMES), plugins=[*plugins, observer], options=options
        )
        outcomes, wall = await _run(router, requests, stream_every=2, bound=bound)
        fds_peak = open_fds()
        kinds = _check_outcomes(outcomes, requests, bound)
        figures = _reconcile(router, providers, outcomes, observer)
        await router.aclose()
        del router
        gc.collect()
    leaked = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaked, f"unclosed resources: {[str(w.message) for w in leaked[:3]]}"
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not pending, f"tasks left at shutdown: {pending[:3]}"
    fds_after = await _settle(fds_before, 8, 10.0)
    assert fds_after <= fds_before + 8, f"descriptors grew from {fds_before} to {fds_after}"
    assert kinds["response"] > requests * 0.9
    write_report(
        section,
        {
            "requests": requests,
            "streamed": sum(o.streamed for o in outcomes),
            "concurrency": CONCURRENCY,
            "max_attempts": MAX_ATTEMPTS,
            "per_attempt_timeout_s": providers["openai"].timeout,
            "bound_s": bound,
            "wall_s": round(wall, 2),
            "outcomes": dict(sorted(kinds.items())),
            "fds": {"before": fds_before, "peak": fds_peak, "after": fds_after},
            **_latency_figures(outcomes),
            **figures,
        },
    )


async def test_cached_run_hits_cost_nothing_and_never_reach_a_provider(providers):
    """With the response cache on, repeated prompts are answered once and reconcile too."""
    _plan(providers)
    n = max(REQUESTS // 5, 200)
    distinct = n // 10
    options = RouterOptions(
        health_checks=False, max_attempts=MAX_ATTEMPTS, max_cooldown_wait=COOLDOWN_WAIT, cache=CacheOptions()
    )
    bound = _bound(providers)
    observer = AttemptLog()
    router = build_router(
        *(providers[name].backend() for name in NAMES), plugins=[PolicyPlugin(POLICY), observer], options=options
    )
    try:
        sem = asyncio.Semaphore(CONCURRENCY)

        async def limited(i: int) -> Outcome:
            async with sem:
                # Request i asks the same as request i % distinct: tag it with that number.
                return await _one(router, i % distinct, False, bound + 10)

        started = time.monotonic()
        outcomes = await asyncio.gather(*(limited(i) for i in range(n)))
        wall = time.monotonic() - started
        for o in outcomes:
            assert o.elapsed <= bound
            assert o.error is None or isinstance(o.error, (BackendError, NoBackendAvailableError)), o.error
        figures = _reconcile(router, providers, list(outcomes), observer)
    finally:
        await router.aclose()
    assert figures["cache_hits"] >= n // 2
    assert figures["attempts"] < n // 2
    write_report("cached", {"requests": n, "distinct_prompts": distinct, "wall_s": round(wall, 2), **figures})
