"""The latency-bound scorer: cheapest among the fast enough, the slow ones last."""

from __future__ import annotations

import claudette_score_latency_bound as latency_bound
from claudette import (
    BackendSettings,
    BaseBackend,
    ClaudettePlugins,
    ClaudetteRequest,
    RouterOptions,
)
from claudette.testing.pytest_plugin import build_router
from claudette_score_latency_bound import SLOW_PENALTY, LatencyBoundScoring


class Silent(BaseBackend):
    """A backend that is never called: selection only needs prices and stats."""

    async def send(self, request):  # type: ignore[no-untyped-def]
        raise AssertionError("selection tests never send")


def backend(name: str, price: float) -> BaseBackend:
    return Silent(name, BackendSettings(model="m", cost_per_token=price))


REQUEST = ClaudetteRequest(prompt="x" * 400, options={"max_tokens": 100})


def record_latencies(router, latencies: dict[str, float]) -> None:  # type: ignore[no-untyped-def]
    for name, latency in latencies.items():
        router.get_backend(name).stats.record_latency(latency)


async def test_cheapest_backend_within_the_bound_wins() -> None:
    router = build_router(
        backend("cheap-slow", 0.0), backend("mid-fast", 0.00001), backend("dear-fast", 0.001),
        plugins=[LatencyBoundScoring(bound_ms=1000)],
    )
    record_latencies(router, {"cheap-slow": 4000, "mid-fast": 300, "dear-fast": 100})

    chosen = await router.select_backend(REQUEST)

    assert chosen.name == "mid-fast"


async def test_without_the_plugin_the_default_formula_prefers_the_free_slow_backend() -> None:
    router = build_router(backend("cheap-slow", 0.0), backend("dear-fast", 0.001))
    record_latencies(router, {"cheap-slow": 4000, "dear-fast": 100})

    chosen = await router.select_backend(REQUEST)

    assert chosen.name == "cheap-slow"


def test_too_slow_backends_rank_after_fast_ones_by_latency() -> None:
    scorer = LatencyBoundScoring(bound_ms=1000)
    slow, slower = backend("slow", 0.0), backend("slower", 0.0)
    slow.stats.record_latency(2000)
    slower.stats.record_latency(3000)
    options = RouterOptions()

    scores = [scorer.claudette_score_backend(b, REQUEST, b.stats, options) for b in (slow, slower)]

    assert scores == [SLOW_PENALTY + 2.0, SLOW_PENALTY + 3.0]


def test_request_metadata_overrides_the_bound() -> None:
    scorer = LatencyBoundScoring(bound_ms=5000)
    b = backend("b", 0.0)
    b.stats.record_latency(800)
    strict = ClaudetteRequest(prompt="hi", metadata={"latency_bound_ms": 500})

    assert scorer.claudette_score_backend(b, strict, b.stats, RouterOptions()) > SLOW_PENALTY
    assert scorer.claudette_score_backend(b, ClaudetteRequest(prompt="hi"), b.stats, RouterOptions()) == 0.0


def test_bound_comes_from_the_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CLAUDETTE_LATENCY_BOUND_MS", "250")

    assert LatencyBoundScoring().bound_ms == 250.0


def test_it_runs_before_the_built_in_formula() -> None:
    manager = ClaudettePlugins(autoload=False, plugins=[latency_bound.plugin])

    order = manager.hook_order("claudette_score_backend")

    assert order[0] != "claudette-internal-scoring"
    assert order[-1] == "claudette-internal-scoring"
    assert len(order) == 2
