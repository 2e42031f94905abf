"""The router keeps answering: every usable backend once, misconfigured backends kept out,
health checks that never disturb traffic, ``[router.breaker]`` in the config file."""

from __future__ import annotations

import asyncio
import pickle

import pytest
from _support import FakeBackend, make_router, settings, unavailable
from claudette import (
    AuthenticationError,
    BackendError,
    ClaudetteRequest,
    ConfigError,
    InvalidRequestError,
    NoBackendAvailableError,
    QuotaExceededError,
)
from claudette.config import parse_config
from claudette.misconfig import MISCONFIGURED_HOLD, backend_at_fault, is_misconfiguration
from claudette.types import BreakerPolicy, RouterOptions

REQ = ClaudetteRequest(prompt="hello there")


# -- every usable backend once ------------------------------------------------------------------


async def test_by_default_every_usable_backend_is_tried_once():
    failing = [FakeBackend(f"f{i}", settings(priority=i), script=[unavailable(f"f{i}")]) for i in range(5)]
    last = FakeBackend("last", settings(priority=9))
    router = make_router(*failing, last)
    response = await router.route_request(REQ)
    assert response.backend_used == "last"
    assert response.metadata["failed_backends"] == [f"f{i}" for i in range(5)]
    assert [b.calls for b in failing] == [1] * 5


async def test_max_attempts_bounds_the_backends_tried_when_set():
    failing = [FakeBackend(f"f{i}", settings(priority=i), script=[unavailable(f"f{i}")]) for i in range(3)]
    router = make_router(*failing, FakeBackend("last", settings(priority=9)), max_attempts=2)
    with pytest.raises(NoBackendAvailableError, match="all 2 attempts failed"):
        await router.route_request(REQ)
    assert [b.calls for b in failing] == [1, 1, 0]


def test_max_attempts_defaults_to_none_and_must_be_positive():
    assert RouterOptions().max_attempts is None
    with pytest.raises(ValueError, match="max_attempts"):
        RouterOptions(max_attempts=0)


# -- misconfiguration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (AuthenticationError("invalid x-api-key", "a", status_code=401), True),
        (AuthenticationError("forbidden", "a", status_code=403), True),
        (QuotaExceededError("out of credit", "a", status_code=429, error_type="insufficient_quota"), True),
        (InvalidRequestError("The model `gpt-9` does not exist", "a", status_code=404, error_type="model_not_found"), True),
        (InvalidRequestError("model 'x:1b' not found, try pulling it first", "a", error_type="model_not_found"), True),
        (InvalidRequestError("Unsupported parameter: 'temperature' is not supported with this model.", "a", status_code=400), True),
        (InvalidRequestError("This model does not support tools", "a", status_code=400), True),
        (InvalidRequestError("prompt is too long: 250000 tokens > 200000 maximum", "a", status_code=400), False),
        (InvalidRequestError("maximum context length is 8192 tokens", "a", status_code=400, error_type="context_length_exceeded"), False),
        (InvalidRequestError("Invalid schema for function 'f'", "a", status_code=400), False),
        (InvalidRequestError("messages: field required", "a", status_code=422), False),
        (unavailable("a"), False),
    ],
)
def test_misconfiguration_is_told_from_an_invalid_request(error, expected):
    assert is_misconfiguration(error) is expected
    assert error.misconfigured is expected


def test_a_request_naming_its_own_model_owns_a_model_not_found():
    missing = InvalidRequestError("The model `gpt-9` does not exist", "a", status_code=404)
    bad_key = AuthenticationError("bad key", "a", status_code=401)
    named = ClaudetteRequest(prompt="x", options={"model": "gpt-9"})
    assert backend_at_fault(missing, REQ) and not backend_at_fault(missing, named)
    assert backend_at_fault(bad_key, named)


def test_misconfigured_survives_pickling_and_can_be_set_explicitly():
    error = BackendError("odd", "a", False, 400, misconfigured=True)
    assert pickle.loads(pickle.dumps(error)).misconfigured is True
    assert BackendError("odd", "a", False, 404, misconfigured=False).misconfigured is False


async def test_a_misconfigured_backend_is_tried_again_after_the_hold():
    a = FakeBackend("a", settings(cost_per_token=0.0), script=[AuthenticationError("bad key", "a", status_code=401)])
    b = FakeBackend("b", settings(cost_per_token=1e-6))
    router = make_router(a, b)
    assert (await router.route_request(REQ)).backend_used == "b"
    assert a.stats.misconfigured_for(a.stats.misconfigured_until - 1.0) > 0
    a.stats.misconfigured_until -= MISCONFIGURED_HOLD  # the hold is over
    assert (await router.route_request(REQ)).backend_used == "a"
    assert a.get_info().misconfigured is None and a.stats.misconfigured is None


async def test_a_stream_skips_a_misconfigured_backend_before_its_first_chunk():
    a = FakeBackend("a", settings(cost_per_token=0.0), script=[InvalidRequestError("model: claude-9", "a", status_code=404)])
    b = FakeBackend("b", settings(cost_per_token=1e-6))
    router = make_router(a, b)
    chunks = [c async for c in router.stream(REQ)]
    final = chunks[-1].response
    assert final is not None and final.backend_used == "b"
    assert final.metadata["failed_backends"] == ["a"]


# -- panic probes -------------------------------------------------------------------------------


async def test_a_dead_backend_alone_gets_one_probe_per_request_not_a_burst():
    a = FakeBackend("a", script=[unavailable("a")] * 100, delay=0.01)
    router = make_router(a)
    for _ in range(BreakerPolicy().failure_threshold):
        with pytest.raises(NoBackendAvailableError):
            await router.route_request(REQ)
    calls = a.calls
    results = await asyncio.gather(*(router.route_request(REQ) for _ in range(20)), return_exceptions=True)
    assert a.calls == calls + 1  # one early probe; the other 19 found its slot taken
    assert router.counters.panic_probes == 1
    assert all(isinstance(r, NoBackendAvailableError) for r in results)
    # The probe's request names how the probe failed; the others, the breaker.
    reasons = sorted(r.reasons["a"][:20] for r in results if isinstance(r, NoBackendAvailableError))
    assert reasons.count("server error (backen") == 1


# -- health checks --------------------------------------------------------------------------------


async def test_no_health_check_for_a_backend_that_answered_recently():
    a = FakeBackend("a")
    router = make_router(a, health_checks=True)
    a.stats.record_success(5.0)
    await router.route_request(REQ)
    await asyncio.sleep(0.02)
    assert a.health_calls == 0


async def test_no_health_check_while_a_request_to_the_same_server_is_in_flight():
    shared = "http://127.0.0.1:9/v1"
    a = FakeBackend("a", settings(base_url=shared, cost_per_token=0.0), delay=0.05)
    b = FakeBackend("b", settings(base_url=shared, cost_per_token=1e-6))
    router = make_router(a, b, health_checks=True)
    await router.route_request(REQ)  # a's call starts at once; the checks find the server busy
    assert (a.health_calls, b.health_calls) == (0, 0)
    await asyncio.sleep(0.02)
    a.stats.last_success_at = None  # stale again, and the server is idle now
    await router.select_backend(REQ)
    await asyncio.sleep(0.02)
    assert a.health_calls == 1 and b.health_calls == 1


async def test_a_health_check_can_report_a_misconfigured_backend():
    a = FakeBackend("a", settings(cost_per_token=0.0))
    b = FakeBackend("b", settings(cost_per_token=1e-6))

    async def model_missing() -> bool:
        a.mark_misconfigured("model 'fake-1' is not served here")
        return False

    a.health_check = model_missing  # type: ignore[method-assign]
    router = make_router(a, b, health_checks=True)
    assert await router.check_health() == {"a": False, "b": True}
    assert (await router.route_request(REQ)).backend_used == "b"
    assert a.get_info().misconfigured == "model 'fake-1' is not served here"
    assert a.calls == 0


# -- [router.breaker] -------------------------------------------------------------------------------


async def test_router_breaker_policy_comes_from_the_options_and_the_config_file():
    config = parse_config(
        {"router": {"breaker": {"failure_threshold": 5, "reset_timeout": 300.0, "reset_timeout_growth": 1.0}}}
    )
    policy = config.router.breaker
    assert (policy.failure_threshold, policy.reset_timeout, policy.reset_timeout_growth) == (5, 300.0, 1.0)
    router = make_router(FakeBackend("a"), breaker=policy)
    assert router.breaker("a").policy == policy


def test_router_breaker_config_problems_are_all_reported_with_their_keys():
    with pytest.raises(ConfigError) as info:
        parse_config(
            {"router": {"breaker": {"failure_rate_threshold": "high", "minimum_calls": 5, "window_size": 4}}},
            source="c.toml",
        )
    text = str(info.value)
    assert "c.toml" in text and "router.breaker.failure_rate_threshold: expected a number" in text
    with pytest.raises(ConfigError, match=r"router\.breaker\.minimum_calls: minimum_calls must not exceed window_size"):
        parse_config({"router": {"breaker": {"minimum_calls": 60}}})
    with pytest.raises(ConfigError, match=r"router\.breaker\.counts_as_failure: "):  # code, not config
        parse_config({"router": {"breaker": {"counts_as_failure": "always"}}})
