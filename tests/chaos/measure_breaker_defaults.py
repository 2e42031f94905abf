"""Measure circuit-breaker policies: how often a flaky provider is shut out, how many calls a
dead one still receives, and how soon a recovered one is used again.

The real :class:`claudette.breaker.CircuitBreaker` runs on a simulated clock; one backend
is offered a call every ``1 / RATE`` seconds, which it takes whenever its breaker lets it
(the worst case: the router always prefers it). Each outcome is drawn independently.
``docs/reliability.md`` quotes the table this prints::

    .venv/bin/python tests/chaos/measure_breaker_defaults.py
"""

from __future__ import annotations

import random
import sys

from claudette.breaker import CircuitBreaker, CircuitBreakerState
from claudette.types import BreakerPolicy

#: Calls offered to the backend per second.
RATE = 20.0
#: Simulated seconds of each flaky run.
HOUR = 3600.0

POLICIES = {
    "5 in a row, 300 s (the original)": BreakerPolicy(
        failure_threshold=5, reset_timeout=300.0, reset_timeout_growth=1.0, failure_rate_threshold=1.0
    ),
    "5 in a row, 5 s doubling to 300 s": BreakerPolicy(failure_threshold=5, failure_rate_threshold=1.0),
    "10 in a row, 30 s": BreakerPolicy(reset_timeout=30.0, reset_timeout_growth=1.0, failure_rate_threshold=1.0),
    "10 in a row or 60 % of 50, 5 s doubling to 300 s (default)": BreakerPolicy(),
}


class Clock:
    """A clock the simulation moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _run(policy: BreakerPolicy, failing: float, seconds: float, seed: int, recover_at: float | None = None) -> dict[str, float]:
    """Offer calls for ``seconds``; each fails with probability ``failing`` (until ``recover_at``)."""
    rng = random.Random(seed)
    clock = Clock()
    breaker = CircuitBreaker("b", policy, clock=clock)
    calls = shut = trips = 0
    recovered_used: float | None = None
    step = 1.0 / RATE
    while clock.now < seconds:
        state = breaker.state
        if state is CircuitBreakerState.OPEN:
            shut += 1
        elif breaker.try_acquire():
            calls += 1
            p = failing if recover_at is None or clock.now < recover_at else 0.0
            if rng.random() < p:
                before = breaker.state
                breaker.record_failure()
                trips += before is not CircuitBreakerState.OPEN and breaker.state is CircuitBreakerState.OPEN
            else:
                breaker.record_success()
                if recover_at is not None and clock.now >= recover_at and recovered_used is None:
                    recovered_used = clock.now - recover_at
        else:
            shut += 1
        clock.now += step
    offered = calls + shut
    return {
        "shut_share": shut / offered,
        "trips": trips,
        "calls": calls,
        "back_after_s": recovered_used if recovered_used is not None else float("nan"),
    }


def main() -> int:
    """Print one row per policy."""
    print(f"one backend offered {RATE:g} calls/s; flaky runs last an hour; 5 seeds each (mean)")
    header = (
        "policy",
        "shut out at 10 % / 30 % / 50 % failures",
        "calls to a dead one per 1,000 requests",
        "back after a 10-min outage",
    )
    print(" | ".join(header))
    for name, policy in POLICIES.items():
        shares = []
        for failing in (0.1, 0.3, 0.5):
            runs = [_run(policy, failing, HOUR, seed) for seed in range(5)]
            shares.append(sum(r["shut_share"] for r in runs) / len(runs))
        dead = _run(policy, 1.0, 1000 / RATE, 0)["calls"]
        back = _run(policy, 1.0, 900.0, 0, recover_at=600.0)["back_after_s"]
        cells = " / ".join(f"{s:.1%}" for s in shares)
        print(f"{name} | {cells} | {dead} | {back:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
