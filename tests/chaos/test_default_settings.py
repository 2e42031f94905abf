"""The router at the settings a new user gets: only the per-attempt ``timeout`` is set.

- Four providers each failing about 30 % of calls, independently (every fault kind of the
  suite), 1,500 requests at 50 concurrent, five fault sequences: every run answers at
  least 99 % of the requests that were not cut after their first chunk. At 30 % a request
  that every provider fails is lost whatever the router does (0.3 ** 4, about 0.8 %);
  the runs report how many of those each sequence holds beside what was answered.
- One provider down for the whole run (500 on every call), three healthy: every request
  is answered, and the dead one receives only its breaker's threshold and probes.

The figures go to ``$CLAUDETTE_CHAOS_REPORT`` (JSON) when set; ``docs/reliability.md``
quotes them.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from _chaos_support import fault_plan, lost_everywhere, write_report
from _providers import FAULT_KINDS, NAMES, Provider, four_providers, tag_of_text
from claudette import ClaudetteRequest
from claudette.errors import BackendError, NoBackendAvailableError, StreamInterruptedError
from claudette.router import BackendRouter
from claudette.testing.pytest_plugin import build_router
from claudette.types import RouterOptions

#: The one setting the runs choose: seconds one attempt may take. Generous, as in the load
#: run, so that only the scripted hangs time out even on a busy 2-core machine (the
#: emulators share this process); a hang lasts a little longer than that.
TIMEOUT = 10.0
REQUESTS = 1500
CONCURRENCY = 50
SEEDS = (1, 2, 3, 4, 5)
#: About 30 % of every provider's calls fail, spread over every fault kind of the suite.
FAULT_RATES = {kind: 0.30 / len(FAULT_KINDS) for kind in FAULT_KINDS}
#: The share of eligible requests every run must answer.
ANSWERED = 0.99


@pytest.fixture(scope="module")
def providers() -> Iterator[dict[str, Provider]]:
    """The four emulators, a hang lasting a little longer than the timeout."""
    with four_providers(timeout=TIMEOUT, hang=TIMEOUT + 0.5, retry_after=0.2) as started:
        yield started


def _router(providers: dict[str, Provider]) -> BackendRouter:
    """A router at the default options and breaker policy, each backend's timeout set."""
    return build_router(*(providers[n].backend() for n in NAMES), options=RouterOptions())


async def _one(router: BackendRouter, i: int, streamed: bool) -> tuple[str, float, str]:
    """How request ``i`` ended (``answered``, ``cut`` after its first chunk, or ``failed``),
    its duration and its error."""
    request = ClaudetteRequest(prompt=f"req-{i} please describe chaos engineering in a few words")
    started = time.monotonic()
    try:
        if streamed:
            final = None
            async for chunk in router.stream(request):
                if chunk.response is not None:
                    final = chunk.response
            assert final is not None and tag_of_text(final.content) == i
        else:
            response = await router.route_request(request)
            assert tag_of_text(response.content) == i
        outcome, error = "answered", ""
    except StreamInterruptedError as exc:
        outcome, error = "cut", str(exc)
    except (BackendError, NoBackendAvailableError) as exc:
        outcome, error = "failed", str(exc)
    return outcome, time.monotonic() - started, error


async def _run(router: BackendRouter, n: int, *, stream_every: int) -> list[tuple[str, float, str]]:
    sem = asyncio.Semaphore(CONCURRENCY)

    async def limited(i: int) -> tuple[str, float, str]:
        async with sem:
            return await _one(router, i, stream_every > 0 and i % stream_every == 1)

    return list(await asyncio.gather(*(limited(i) for i in range(n))))


async def test_thirty_percent_faults_at_default_settings_answer_ninety_nine_percent(providers):
    """Breakers at their defaults never turn partial failures into a total outage."""
    runs: list[dict[str, Any]] = []
    for seed in SEEDS:
        for name, provider in providers.items():
            provider.clear()
            provider.plan(fault_plan(seed, name, FAULT_RATES))
        router = _router(providers)
        started = time.monotonic()
        try:
            outcomes = await _run(router, REQUESTS, stream_every=2)
        finally:
            await router.aclose()
        kinds = Counter(o for o, _, _ in outcomes)
        eligible = REQUESTS - kinds["cut"]
        c = router.counters
        runs.append(
            {
                "seed": seed,
                "answered": kinds["answered"],
                "failed": kinds["failed"],
                "cut_after_first_chunk": kinds["cut"],
                "answered_share": round(kinds["answered"] / eligible, 4),
                "lost_at_every_provider": lost_everywhere(seed, NAMES, FAULT_RATES, REQUESTS),
                "attempts": c.attempts,
                "panic_probes": c.panic_probes,
                "wall_s": round(time.monotonic() - started, 2),
                "max_request_s": round(max(t for _, t, _ in outcomes), 2),
                "errors": Counter(e[:160] for o, _, e in outcomes if o == "failed").most_common(3),
            }
        )
    write_report("default_settings", {"requests": REQUESTS, "concurrency": CONCURRENCY, "runs": runs})
    for run in runs:
        assert run["answered_share"] >= ANSWERED, runs


async def test_a_dead_provider_gets_only_its_threshold_and_probes(providers):
    """One provider answers 500 to everything: nothing is lost, and it is left alone."""
    results: dict[str, Any] = {}
    for dead in NAMES:
        for provider in providers.values():
            provider.clear()
            provider.unplan()
        providers[dead].fail_always("http_500")
        router = _router(providers)
        try:
            outcomes = await _run(router, 1000, stream_every=0)
        finally:
            await router.aclose()
            providers[dead].fail_always(None)
        calls = len(providers[dead].chat_requests())
        results[dead] = {"answered": sum(o == "answered" for o, _, _ in outcomes), "calls_to_the_dead": calls}
        errors = Counter(e[:300] for o, _, e in outcomes if o != "answered")
        assert not errors, (dead, errors.most_common(3))
        assert calls <= 20, (dead, calls)
    write_report("one_provider_down", {"requests": 1000, "concurrency": CONCURRENCY, "per_dead_provider": results})
