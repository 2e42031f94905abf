"""Rate limits: rpm/tpm per backend, provider-reported limits, skip reasons."""

from __future__ import annotations

import pytest
from claudette import (
    BackendSettings,
    BaseBackend,
    ClaudetteRequest,
    ClaudetteResponse,
    NoBackendAvailableError,
)
from claudette.config import parse_config
from claudette.ratelimit import RateLimiter, parse_duration, rate_limits_from_headers
from claudette.testing import LoopbackServer, Reply
from test_patterns_support import FakeBackend, gather, make_router, req


def two_backends(**a_settings: object) -> tuple[FakeBackend, FakeBackend]:
    a = FakeBackend("a", BackendSettings(model="m", priority=1, **a_settings), delay=0.01)  # type: ignore[arg-type]
    b = FakeBackend("b", BackendSettings(model="m", priority=2), delay=0.01)
    return a, b


async def test_rpm_caps_concurrent_requests_and_the_rest_go_elsewhere() -> None:
    a, b = two_backends(rpm=5)
    router = make_router(a, b)
    results = await gather(lambda i: router.route_request(req(f"q{i}")), 20)
    assert [r.backend_used for r in results].count("a") == 5
    assert a.calls == 5
    assert b.calls == 15


async def test_backend_at_its_rpm_is_skipped_with_a_reason() -> None:
    a, b = two_backends(rpm=1)
    router = make_router(a, b)
    await router.route_request(req())
    candidates = {c.name: c for c in router.explain(req())}
    assert candidates["a"].skipped is not None
    assert candidates["a"].skipped.startswith("rate limit: no requests left")
    assert candidates["b"].chosen


async def test_only_backend_at_its_limit_raises_with_the_reason() -> None:
    a = FakeBackend("a", rpm=1)
    router = make_router(a)
    await router.route_request(req())
    with pytest.raises(NoBackendAvailableError) as info:
        await router.route_request(req())
    assert "rate limit" in info.value.reasons["a"]
    assert a.calls == 1


async def test_tpm_counts_estimated_tokens_of_calls_in_flight() -> None:
    # each request: 1 prompt token + 40 max_tokens = 41 estimated tokens; 100 tpm fits 2.
    a, b = two_backends(tpm=100)
    router = make_router(a, b)
    results = await gather(lambda i: router.route_request(req("hi", options={"max_tokens": 40})), 6)
    assert [r.backend_used for r in results].count("a") == 2


def test_settle_replaces_the_estimate_with_reported_usage() -> None:
    limiter = RateLimiter(tpm=1000)
    event = limiter.acquire(300, now=0.0)
    assert limiter.remaining(now=1.0) == (None, 700)
    limiter.settle(event, 50)
    assert limiter.remaining(now=1.0) == (None, 950)


def test_window_slides_after_a_minute() -> None:
    limiter = RateLimiter(rpm=2)
    limiter.acquire(1, now=0.0)
    limiter.acquire(1, now=10.0)
    assert limiter.blocked(1, now=30.0) is not None
    assert limiter.blocked(1, now=60.5) is None
    assert limiter.remaining(now=70.5) == (2, None)


def test_provider_reported_remaining_caps_the_local_count() -> None:
    limiter = RateLimiter(rpm=100)
    limiter.update_from_provider(2, None, 30.0, now=0.0)
    limiter.acquire(1, now=1.0)
    assert limiter.remaining(now=2.0) == (1, None)
    limiter.acquire(1, now=2.0)
    assert limiter.blocked(1, now=3.0) is not None
    assert limiter.blocked(1, now=31.0) is None  # the provider's window has reset


async def test_provider_reporting_nothing_left_keeps_the_backend_out_until_reset() -> None:
    a, b = two_backends()  # no rpm configured: the report alone keeps it out
    router = make_router(a, b)
    a.stats.update_rate_limits(remaining_requests=0, remaining_tokens=5000, reset_s=30.0)
    response = await router.route_request(req())
    assert response.backend_used == "b"
    assert router.stats()["backends"]["a"]["cooldown_s"] > 29


async def test_provider_report_feeds_a_configured_limiter() -> None:
    a, b = two_backends(rpm=100)
    router = make_router(a, b)
    a.stats.update_rate_limits(remaining_requests=3, remaining_tokens=None, reset_s=20.0)
    results = await gather(lambda i: router.route_request(req(f"q{i}")), 10)
    assert [r.backend_used for r in results].count("a") == 3


async def test_stats_show_what_is_left() -> None:
    a, b = two_backends(rpm=10, tpm=10_000)
    router = make_router(a, b)
    await router.route_request(req())
    left = router.stats()["patterns"]["rate_limits"]["a"]
    assert left["rpm"] == 10
    assert left["requests_left"] == 9
    assert left["tokens_left"] == 10_000 - 15  # the reported usage, 10 in + 5 out


async def test_unlimited_router_has_no_rate_limit_stats() -> None:
    a, b = two_backends()
    router = make_router(a, b)
    await router.route_request(req())
    assert "patterns" not in router.stats()


def test_openai_headers() -> None:
    headers = {
        "x-ratelimit-remaining-requests": "59",
        "x-ratelimit-remaining-tokens": "149984",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-reset-tokens": "6m0s",
    }
    assert rate_limits_from_headers(headers) == {
        "remaining_requests": 59,
        "remaining_tokens": 149984,
        "reset_s": 360.0,
    }


def test_exhausted_window_decides_the_reset() -> None:
    headers = {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-remaining-tokens": "1000",
        "x-ratelimit-reset-requests": "20ms",
        "x-ratelimit-reset-tokens": "6m0s",
    }
    assert rate_limits_from_headers(headers)["reset_s"] == pytest.approx(0.02)


def test_anthropic_headers() -> None:
    headers = {
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:30Z",
        "anthropic-ratelimit-tokens-remaining": "80000",
    }
    now = 1767225600.0  # 2026-01-01T00:00:00Z
    got = rate_limits_from_headers(headers, now=now)
    assert got == {"remaining_requests": 0, "remaining_tokens": 80000, "reset_s": 30.0}


def test_no_headers_give_nothing() -> None:
    assert rate_limits_from_headers({}) == {
        "remaining_requests": None,
        "remaining_tokens": None,
        "reset_s": None,
    }


def test_negative_counts_mean_unknown() -> None:
    # Some OpenAI-compatible gateways send -1 when they do not know.
    headers = {
        "x-ratelimit-remaining-requests": "-1",
        "x-ratelimit-remaining-tokens": "-1",
        "x-ratelimit-reset-tokens": "0",
    }
    assert rate_limits_from_headers(headers)["remaining_requests"] is None
    assert rate_limits_from_headers(headers)["remaining_tokens"] is None


def test_anthropic_input_and_output_token_counts_stand_in_for_the_combined_one() -> None:
    headers = {
        "anthropic-ratelimit-input-tokens-remaining": "5000",
        "anthropic-ratelimit-input-tokens-reset": "2026-01-01T00:00:10Z",
        "anthropic-ratelimit-output-tokens-remaining": "0",
        "anthropic-ratelimit-output-tokens-reset": "2026-01-01T00:00:40Z",
    }
    got = rate_limits_from_headers(headers, now=1767225600.0)
    assert got == {"remaining_requests": None, "remaining_tokens": 0, "reset_s": 40.0}


def test_a_response_without_rate_limit_headers_changes_nothing() -> None:
    limiter = RateLimiter(rpm=10)
    backend = FakeBackend("b")
    backend.stats.rate_limits = limiter
    backend.stats.update_rate_limits(remaining_requests=3, reset_s=30.0)
    backend.stats.update_rate_limits(**rate_limits_from_headers({"content-type": "text/plain"}))
    assert limiter.remaining()[0] == 3


@pytest.mark.parametrize(
    ("text", "seconds"), [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m", 3720.0), ("2.5", 2.5), ("soon", None)]
)
def test_parse_duration(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_limits_from_config() -> None:
    config = parse_config({"backends": {"x": {"plugin": "p", "rpm": 60, "tpm": 90000}}})
    assert (config.backends[0].settings.rpm, config.backends[0].settings.tpm) == (60, 90000)


def test_config_rejects_a_zero_rpm() -> None:
    from claudette import ConfigError

    with pytest.raises(ConfigError) as info:
        parse_config({"backends": {"x": {"plugin": "p", "rpm": 0}}})
    assert "rpm" in str(info.value)


class HeaderBackend(BaseBackend):
    """A minimal HTTP backend that reports the provider's rate-limit headers."""

    async def send(self, request: ClaudetteRequest) -> ClaudetteResponse:
        response = await self.client.post("/v1/chat", json={"prompt": request.prompt})
        self.stats.update_rate_limits(**rate_limits_from_headers(response.headers))
        return self.create_success_response(response.json()["text"], 1, 1, 1.0, request=request)


async def test_headers_from_a_real_http_response_keep_the_backend_out(claudette_loopback_server: LoopbackServer) -> None:
    claudette_loopback_server.script(
        Reply.json(
            {"text": "hi"},
            headers={"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "30s"},
        )
    )
    http = HeaderBackend(
        "http", BackendSettings(model="m", base_url=claudette_loopback_server.url, priority=1, cost_per_token=0.0)
    )
    spare = FakeBackend("spare", BackendSettings(model="m", priority=2))
    router = make_router(http, spare)
    try:
        assert (await router.route_request(req("one"))).backend_used == "http"
        skipped = {c.name: c.skipped for c in router.explain(req("two"))}
        assert (skipped["http"] or "").startswith("rate limited for ")
        assert (await router.route_request(req("two"))).backend_used == "spare"
        assert len(claudette_loopback_server.requests) == 1
    finally:
        await router.aclose()
