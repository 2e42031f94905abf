"""Fallback masks independent failures, and a brief outage is waited out, not failed.

Four providers each fail about 30 % of calls, independently (a seeded plan keyed by
backend and request, so the run is reproducible whatever the arrival order). With
``max_attempts=4`` a request fails only when all four fail it (0.3^4 ≈ 0.8 %).

The breakers must not open on bad luck: a breaker that opens after 5 consecutive failures
for 300 s would take a backend out for the rest of the run after a run of five, which a
30 % failure rate produces about once every 600 calls. Here a ``claudette_breaker_policy``
plugin object gives every backend ``failure_threshold=10`` (a run of ten is a real
outage at 30 %: 0.3^10 ≈ 6e-6) and ``reset_timeout=1`` s; the default policy is tested
under the same faults in ``test_default_settings.py``.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from _chaos_support import PolicyPlugin, TransitionLog, fault_plan, write_report
from _providers import NAMES
from claudette import ClaudetteRequest
from claudette.errors import NoBackendAvailableError, RateLimitError
from claudette.testing.pytest_plugin import build_router
from claudette.types import BreakerPolicy, RouterOptions

SEED = 3
REQUESTS = 2000
RATES = {"http_500": 0.075, "overloaded": 0.075, "reset": 0.075, "truncated_json": 0.075}
TOLERANT = BreakerPolicy(failure_threshold=10, reset_timeout=1.0)


async def test_four_backends_failing_30_percent_each_answer_at_least_99_percent(providers):
    plans = {name: fault_plan(SEED, name, RATES) for name in NAMES}
    for name in NAMES:
        providers[name].plan(plans[name])
    transitions = TransitionLog()
    router = build_router(
        *(providers[n].backend() for n in NAMES),
        plugins=[PolicyPlugin(TOLERANT), transitions],
        options=RouterOptions(health_checks=False, max_attempts=4),
    )
    sem = asyncio.Semaphore(50)
    failed: list[int] = []

    async def one(i: int) -> None:
        async with sem:
            try:
                await router.route_request(ClaudetteRequest(prompt=f"req-{i} hello"))
            except NoBackendAvailableError:
                failed.append(i)

    started = time.monotonic()
    try:
        await asyncio.gather(*(one(i) for i in range(REQUESTS)))
    finally:
        await router.aclose()
    wall = time.monotonic() - started
    doomed = sorted(i for i in range(REQUESTS) if all(plans[n](i) for n in NAMES))
    per_backend = {n: sum(1 for i in range(REQUESTS) if plans[n](i)) / REQUESTS for n in NAMES}
    answered = 1 - len(failed) / REQUESTS
    write_report(
        "fallback_masking",
        {
            "requests": REQUESTS,
            "planned_failure_rate": {n: round(r, 3) for n, r in per_backend.items()},
            "answered_ratio": round(answered, 4),
            "failed": len(failed),
            "failed_at_all_four": len(doomed),
            "breaker_opened": sum(1 for _, _, new in transitions.events if new == "open"),
            "attempts": router.counters.attempts,
            "wall_s": round(wall, 2),
        },
    )
    assert all(0.28 <= r <= 0.32 for r in per_backend.values())
    assert sorted(failed) == doomed, "a request failed that some backend would have answered"
    assert answered >= 0.99


async def test_when_every_backend_is_briefly_rate_limited_a_request_waits_for_the_first(providers):
    for name in NAMES:  # a retry-after of one second
        providers[name].retry_after = 1.0
        providers[name].script(["rate_limit"])
    router = build_router(*(providers[n].backend() for n in NAMES), options=RouterOptions(health_checks=False))
    try:
        for name in NAMES:  # put every backend into its cool-down
            with pytest.raises(RateLimitError):
                await router.route_request(ClaudetteRequest(prompt=f"req-{name} x", backend=name))
        started = time.monotonic()
        response = await router.route_request(ClaudetteRequest(prompt="req-1 after the outage"))
        waited = time.monotonic() - started
    finally:
        await router.aclose()
    provider = providers[response.backend_used]
    limited, answered = provider.chat_requests()
    assert answered.received_at - limited.received_at >= 1.0, "called before its retry-after ended"
    assert 0.3 < waited < router.options.max_cooldown_wait + 1.0


async def test_without_a_cooldown_budget_the_same_outage_fails_at_once_naming_it(providers):
    for name in NAMES:
        providers[name].retry_after = 1.0
        providers[name].script(["rate_limit"])
    options = RouterOptions(health_checks=False, max_cooldown_wait=0.0)
    router = build_router(*(providers[n].backend() for n in NAMES), options=options)
    try:
        for name in NAMES:
            with pytest.raises(RateLimitError):
                await router.route_request(ClaudetteRequest(prompt=f"req-{name} x", backend=name))
        started = time.monotonic()
        with pytest.raises(NoBackendAvailableError) as caught:
            await router.route_request(ClaudetteRequest(prompt="req-1 after the outage"))
        assert time.monotonic() - started < 0.5
    finally:
        await router.aclose()
    assert set(caught.value.reasons) == set(NAMES)
    assert all("rate limited" in why for why in caught.value.reasons.values())
