"""Property-based tests of the circuit breaker (a state machine on a fake clock) and the scorer."""

from __future__ import annotations

import math

import pytest
from claudette.backend import BaseBackend
from claudette.breaker import CircuitBreaker, CircuitBreakerState
from claudette.scoring import score_parts
from claudette.state import BackendStats
from claudette.types import (
    BackendSettings,
    BreakerPolicy,
    ClaudetteRequest,
    ClaudetteResponse,
    RouterOptions,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

CLOSED, OPEN, HALF_OPEN = CircuitBreakerState.CLOSED, CircuitBreakerState.OPEN, CircuitBreakerState.HALF_OPEN


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class BreakerMachine(RuleBasedStateMachine):
    """Drive a breaker with acquires, outcomes, cancellations and time; compare to a model.

    The model is the policy as documented: CLOSED opens after ``failure_threshold``
    consecutive failures; OPEN lets nothing through until ``reset_timeout`` has passed,
    then HALF_OPEN admits at most ``half_open_max_calls`` probes; a probe's success
    closes, its failure reopens; a released (cancelled) call frees its slot.
    """

    @initialize(
        threshold=st.integers(1, 6),
        reset=st.floats(0.0, 60.0, allow_nan=False),
        probes=st.integers(1, 3),
    )
    def start(self, threshold: int, reset: float, probes: int) -> None:
        self.clock = FakeClock()
        self.policy = BreakerPolicy(
            failure_threshold=threshold, reset_timeout=reset, half_open_max_calls=probes,
            failure_rate_threshold=1.0, reset_timeout_growth=1.0,  # the model: a fixed open period
        )
        self.breaker = CircuitBreaker("b", self.policy, clock=self.clock)
        self.transitions: list[tuple[CircuitBreakerState, CircuitBreakerState]] = []
        self.breaker.on_transition = lambda _b, old, new: self.transitions.append((old, new))
        # The model.
        self.state = CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.in_flight: list[CircuitBreakerState] = []  # the state each held call was admitted in

    def _model_state(self) -> CircuitBreakerState:
        if self.state is OPEN and self.clock.now - self.opened_at >= self.policy.reset_timeout:
            self.state = HALF_OPEN
        return self.state

    def _probes(self) -> int:
        return sum(1 for s in self.in_flight if s is HALF_OPEN)

    @rule(seconds=st.floats(0.0, 100.0, allow_nan=False))
    def advance(self, seconds: float) -> None:
        self.clock.now += seconds

    @rule()
    def acquire(self) -> None:
        state = self._model_state()
        expected = state is CLOSED or (state is HALF_OPEN and self._probes() < self.policy.half_open_max_calls)
        got = self.breaker.try_acquire()
        assert got == expected, f"try_acquire in {state.value} with {self._probes()} probes gave {got}"
        if got:
            self.in_flight.append(state)

    @precondition(lambda self: self.in_flight)
    @rule(index=st.integers(0, 10))
    def succeed(self, index: int) -> None:
        admitted = self.in_flight.pop(index % len(self.in_flight))
        self.breaker.record_success()
        self.failures = 0
        if self.state is HALF_OPEN:
            self.state = CLOSED
            self.in_flight = [CLOSED for _ in self.in_flight] if admitted else self.in_flight

    @precondition(lambda self: self.in_flight)
    @rule(index=st.integers(0, 10))
    def fail(self, index: int) -> None:
        self.in_flight.pop(index % len(self.in_flight))
        self.breaker.record_failure()
        self.failures += 1
        if self.state is HALF_OPEN or (self.state is CLOSED and self.failures >= self.policy.failure_threshold):
            if self.state is not OPEN:
                self.state = OPEN
                self.in_flight = [CLOSED if s is HALF_OPEN else s for s in self.in_flight]
            self.opened_at = self.clock.now
        elif self.state is OPEN:
            self.opened_at = self.clock.now

    @precondition(lambda self: self.in_flight)
    @rule(index=st.integers(0, 10))
    def cancel(self, index: int) -> None:
        admitted = self.in_flight.pop(index % len(self.in_flight))
        had = self.breaker._probes
        self.breaker.release()
        if admitted is HALF_OPEN and self.state is HALF_OPEN:
            assert self.breaker._probes == had - 1, "a cancelled probe kept its slot"

    @invariant()
    def matches_the_model(self) -> None:
        assert self.breaker.state is self._model_state()
        assert self.breaker.consecutive_failures == self.failures

    @invariant()
    def open_admits_nothing(self) -> None:
        if self.breaker.state is OPEN:
            assert not self.breaker.allows_request()
            assert 0.0 <= self.breaker.seconds_until_probe <= self.policy.reset_timeout + 1e-9

    @invariant()
    def half_open_probes_are_bounded(self) -> None:
        assert 0 <= self.breaker._probes <= self.policy.half_open_max_calls

    @invariant()
    def transitions_follow_the_policy(self) -> None:
        allowed = {(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED), (HALF_OPEN, OPEN)}
        assert set(self.transitions) <= allowed


TestBreakerStateMachine = BreakerMachine.TestCase
TestBreakerStateMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


# -- the scorer -------------------------------------------------------------------------------


class _Priced(BaseBackend):
    async def send(self, request: ClaudetteRequest) -> ClaudetteResponse:  # pragma: no cover
        raise NotImplementedError


def _parts(price: float, latency_ms: float, failures: int, options: RouterOptions, max_tokens: int = 256):
    backend = _Priced("b", BackendSettings(model="m", cost_per_token=price))
    stats = BackendStats()
    if latency_ms:
        stats.record_latency(latency_ms)
    stats.failures = failures
    stats.last_failure_at = 0.0 if failures else None
    request = ClaudetteRequest(prompt="hello there", options={"max_tokens": max_tokens})
    return score_parts(backend, request, stats, options, now=0.0)


weights = st.floats(0.0, 1.0, allow_nan=False)
prices = st.floats(0.0, 1e-3, allow_nan=False)
latencies = st.floats(0.0, 60_000.0, allow_nan=False)
failures = st.integers(0, 50)


@st.composite
def router_options(draw: st.DrawFn) -> RouterOptions:
    c, lat, a = draw(weights), draw(weights), draw(weights)
    if c + lat + a == 0:
        c = 1.0
    return RouterOptions(cost_weight=c, latency_weight=lat, availability_weight=a)


@settings(max_examples=100, deadline=None)
@given(router_options(), prices, prices, latencies, failures)
def test_score_never_falls_as_the_price_rises(options, p1, p2, latency, fails):
    low, high = sorted((p1, p2))
    assert _parts(low, latency, fails, options).total <= _parts(high, latency, fails, options).total


@settings(max_examples=100, deadline=None)
@given(router_options(), prices, latencies, latencies, failures)
def test_score_never_falls_as_latency_rises(options, price, l1, l2, fails):
    low, high = sorted((l1, l2))
    assert _parts(price, low, fails, options).total <= _parts(price, high, fails, options).total


@settings(max_examples=100, deadline=None)
@given(router_options(), prices, latencies, failures, failures)
def test_score_never_falls_as_failures_rise(options, price, latency, f1, f2):
    low, high = sorted((f1, f2))
    assert _parts(price, latency, low, options).total <= _parts(price, latency, high, options).total


@settings(max_examples=100, deadline=None)
@given(router_options(), prices, latencies, failures)
def test_every_component_is_in_0_1_and_the_total_is_their_weighted_sum(options, price, latency, fails):
    parts = _parts(price, latency, fails, options)
    for value in (parts.cost, parts.latency, parts.availability):
        assert 0.0 <= value <= 1.0
    expected = (
        parts.cost * options.cost_weight
        + parts.latency * options.latency_weight
        + parts.availability * options.availability_weight
    )
    assert math.isclose(parts.total, expected, rel_tol=1e-12, abs_tol=1e-15)


bad_weights = st.one_of(
    st.floats(max_value=-1e-9, allow_nan=False),
    st.floats(min_value=1.000001, allow_nan=False),
    st.just(math.nan),
    st.booleans(),
    st.text(max_size=3),
    st.none(),
)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["cost_weight", "latency_weight", "availability_weight"]), bad_weights)
def test_a_weight_outside_0_1_or_not_a_number_is_refused_naming_it(field, value):
    with pytest.raises(ValueError, match=field):
        RouterOptions(**{field: value})


def test_all_weights_zero_is_refused():
    with pytest.raises(ValueError, match="at least one"):
        RouterOptions(cost_weight=0.0, latency_weight=0.0, availability_weight=0.0)
