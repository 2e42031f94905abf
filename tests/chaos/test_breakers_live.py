"""Circuit breakers against live emulators: the emulator's log is the witness.

Backend ``openai`` is cheap and preferred; ``ollama`` is priced so that it is only used
when ``openai`` is not usable. The breaker policy (a ``claudette_breaker_policy``
plugin object) opens after 3 consecutive failures and probes again after 0.3 s.
"""

from __future__ import annotations

import asyncio
import itertools
import time

from _chaos_support import PolicyPlugin, TransitionLog
from claudette import ClaudetteRequest
from claudette.testing.pytest_plugin import build_router
from claudette.types import BreakerPolicy, RouterOptions

POLICY = BreakerPolicy(failure_threshold=3, reset_timeout=0.3)


def _router(providers, transitions: TransitionLog):
    preferred = providers["openai"].backend()
    # An output price that makes the cost score 1: the fallback is never preferred.
    fallback = providers["ollama"].backend(input_cost_per_token=0.0, output_cost_per_token=1e-4)
    return build_router(
        preferred,
        fallback,
        plugins=[PolicyPlugin(POLICY), transitions],
        options=RouterOptions(health_checks=False, max_attempts=2),
    )


async def _sequential(router, count: int, pause: float) -> list[str]:
    used = []
    for i in range(count):
        response = await router.route_request(ClaudetteRequest(prompt=f"req-{i} hi"))
        used.append(response.backend_used)
        await asyncio.sleep(pause)
    return used


async def test_an_open_breaker_lets_nothing_through_but_one_probe_per_reset_timeout(providers):
    providers["openai"].fail_always("http_500")
    transitions = TransitionLog()
    router = _router(providers, transitions)
    try:
        used = await _sequential(router, 60, 0.02)
    finally:
        await router.aclose()
    arrivals = [r.received_at for r in providers["openai"].chat_requests()]
    probes = transitions.of("openai").count(("open", "half_open"))
    assert used.count("ollama") == 60  # every request answered, by the fallback
    assert probes >= 2
    assert len(arrivals) == POLICY.failure_threshold + probes
    gaps = [b - a for a, b in itertools.pairwise(arrivals[2:])]
    assert min(gaps) >= POLICY.reset_timeout, "a request reached the backend while its breaker was open"
    expected = [("closed", "open")] + [("open", "half_open"), ("half_open", "open")] * probes
    assert transitions.of("openai") == expected


async def test_half_open_admits_exactly_one_probe_under_concurrency_and_recovery_is_used(providers):
    openai = providers["openai"]
    openai.fail_always("http_500")
    transitions = TransitionLog()
    router = _router(providers, transitions)
    try:
        await _sequential(router, POLICY.failure_threshold, 0.0)
        assert router.breaker_status()["openai"] == "open"
        await asyncio.sleep(POLICY.reset_timeout + 0.05)
        openai.clear()
        openai.emulator.reply_delay = 0.5  # the probe takes a while: everyone else arrives meanwhile
        results = await asyncio.gather(
            *(router.route_request(ClaudetteRequest(prompt=f"req-{100 + i} hi")) for i in range(30))
        )
        openai.emulator.reply_delay = 0.0
        assert len(openai.chat_requests()) == 1, "more than one request reached a half-open backend"
        assert sorted(r.backend_used for r in results).count("openai") == 1
        assert router.breaker_status()["openai"] == "closed"
        used = await _sequential(router, 10, 0.0)
    finally:
        await router.aclose()
    assert used == ["openai"] * 10, "the recovered backend is not used again"
    assert transitions.of("openai") == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


async def test_a_429_retry_after_keeps_the_backend_out_for_exactly_that_long(providers):
    openai = providers["openai"]
    openai.retry_after = 0.5
    openai.script(["rate_limit"])
    transitions = TransitionLog()
    router = _router(providers, transitions)
    try:
        started = time.monotonic()
        used = []
        while time.monotonic() - started < 1.0:
            used += await _sequential(router, 1, 0.02)
    finally:
        await router.aclose()
    limited, *later = openai.chat_requests()
    assert later, "the backend was not used again after its retry-after"
    assert later[0].received_at - limited.received_at >= 0.5
    assert "ollama" in used and used[-1] == "openai"
    assert transitions.of("openai") == []  # one 429 is no reason to open the breaker
