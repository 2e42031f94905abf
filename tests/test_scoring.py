"""The built-in scoring formula and its reference values."""

from __future__ import annotations

import pytest
from _support import FakeBackend, settings
from claudette import ClaudetteRequest, RouterOptions
from claudette.scoring import score_parts
from claudette.state import BackendStats

OPTS = RouterOptions()


def request(max_tokens: int = 100, chars: int = 400) -> ClaudetteRequest:
    return ClaudetteRequest(prompt="x" * chars, options={"max_tokens": max_tokens})


def test_router_options_defaults_are_the_balanced_weights():
    assert (OPTS.cost_weight, OPTS.latency_weight, OPTS.availability_weight) == (0.4, 0.4, 0.2)
    assert OPTS.fallback_enabled is True


def test_cost_score_is_estimated_cost_over_one_cent():
    backend = FakeBackend("a", settings(input_cost_per_token=1e-5, output_cost_per_token=2e-5))
    parts = score_parts(backend, request(max_tokens=100, chars=400), BackendStats(), OPTS)
    # 400 chars ≈ 100 tokens in at 1e-5 + 100 out at 2e-5 = 0.003 EUR → 0.3
    assert parts.cost == pytest.approx(0.3)


def test_cost_score_caps_at_one():
    backend = FakeBackend("a", settings(cost_per_token=1.0))
    assert score_parts(backend, request(), BackendStats(), OPTS).cost == 1.0


def test_latency_score_is_average_over_ten_seconds_capped():
    stats = BackendStats()
    stats.record_latency(2000)
    stats.record_latency(4000)
    assert score_parts(FakeBackend("a"), request(), stats, OPTS).latency == pytest.approx(0.3)
    stats.record_latency(60_000)
    assert score_parts(FakeBackend("a"), request(), stats, OPTS).latency == 1.0


def test_availability_score_is_failures_over_ten():
    stats = BackendStats()
    for _ in range(3):
        stats.record_failure(now=100.0)
    assert stats.availability_score(now=100.0) == pytest.approx(0.3)
    for _ in range(20):
        stats.record_failure(now=100.0)
    assert stats.availability_score(now=100.0) == 1.0


def test_failures_do_not_decay_within_the_first_minute():
    stats = BackendStats()
    for _ in range(5):
        stats.record_failure(now=0.0)
    assert stats.decayed_failures(now=60.0) == 5.0


def test_failures_decay_linearly_over_an_hour_after_the_first_minute():
    stats = BackendStats()
    for _ in range(10):
        stats.record_failure(now=0.0)
    assert stats.decayed_failures(now=60.0 + 1800.0) == pytest.approx(5.0)


def test_failure_decay_floors_at_a_tenth():
    stats = BackendStats()
    for _ in range(10):
        stats.record_failure(now=0.0)
    assert stats.decayed_failures(now=60.0 + 3600.0 * 5) == pytest.approx(1.0)


def test_total_is_the_weighted_sum():
    stats = BackendStats()
    stats.record_latency(5000)
    for _ in range(2):
        stats.record_failure(now=0.0)
    backend = FakeBackend("a", settings(cost_per_token=1e-5))
    parts = score_parts(backend, request(max_tokens=100, chars=400), stats, OPTS, now=1.0)
    assert parts.total == pytest.approx(parts.cost * 0.4 + 0.5 * 0.4 + 0.2 * 0.2)


def test_latency_window_is_bounded():
    stats = BackendStats(window=10)
    for i in range(1000):
        stats.record_latency(float(i))
    assert len(stats.latencies) == 10
    assert stats.avg_latency_ms == pytest.approx(sum(range(990, 1000)) / 10)


@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.3", True])
def test_weights_outside_zero_to_one_are_rejected(bad):
    with pytest.raises(ValueError, match="cost_weight"):
        RouterOptions(cost_weight=bad)


def test_all_zero_weights_are_rejected():
    with pytest.raises(ValueError, match="at least one"):
        RouterOptions(cost_weight=0, latency_weight=0, availability_weight=0)


@pytest.mark.parametrize(
    ("name", "weights"),
    [("balanced", (0.4, 0.4, 0.2)), ("cost-optimized", (0.7, 0.2, 0.1)), ("performance", (0.1, 0.7, 0.2))],
)
def test_weight_presets(name, weights):
    o = RouterOptions.preset(name)
    assert (o.cost_weight, o.latency_weight, o.availability_weight) == weights


def test_the_built_in_scorer_is_the_weighted_sum_of_the_parts():
    from claudette.scoring import DefaultScoring

    backend = FakeBackend("a", settings(input_cost_per_token=2e-6, output_cost_per_token=8e-6))
    backend.stats.record_success(1234.0)
    backend.stats.record_failure()
    request = ClaudetteRequest(prompt="x" * 4001, messages=[{"role": "system", "content": "be brief"}])
    options = RouterOptions()
    parts = score_parts(backend, request, backend.stats, options)

    score = DefaultScoring().claudette_score_backend(backend, request, backend.stats, options)

    assert 0 < parts.cost < 1 and 0 < parts.latency < 1 and 0 < parts.availability < 1
    assert score == pytest.approx(parts.cost * 0.4 + parts.latency * 0.4 + parts.availability * 0.2)


def test_the_built_in_scorer_uses_a_backends_own_pricing():
    from claudette.scoring import DefaultScoring

    class Tiered(FakeBackend):
        def cost_for_usage(self, tokens_input, tokens_output):
            return 0.5  # a flat price, whatever the usage

    cheap_looking = Tiered("a", settings(cost_per_token=0.0))
    request = ClaudetteRequest(prompt="hello")
    score = DefaultScoring().claudette_score_backend(
        cheap_looking, request, cheap_looking.stats, RouterOptions()
    )
    assert score == pytest.approx(1.0 * RouterOptions().cost_weight)  # 0.5 € scores 1 (capped)
