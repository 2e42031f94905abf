"""``BackendRouter.stats()``: what the router has observed, as JSON-ready data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from claudette.router.counters import RouterCounters
    from claudette.router.selection import Entry

__all__ = ["stats_snapshot"]


def stats_snapshot(
    entries: Sequence[Entry],
    counters: RouterCounters,
    patterns: Mapping[str, Any],
    now: float,
) -> dict[str, Any]:
    """Router totals, each backend's state (in tie-break order) and the patterns' views.

    :param patterns: what each configured pattern shows; left out when empty.
    :param now: ``time.monotonic()``, for the cool-downs left.
    """
    backends: dict[str, Any] = {}
    for backend, stats, breaker in entries:
        backends[backend.name] = {
            "breaker": breaker.state.value,
            "consecutive_failures": breaker.consecutive_failures,
            "breaker_trips": breaker.trips,
            "breaker_open_for_s": breaker.open_for,
            "calls": stats.calls,
            "successes": stats.successes,
            "failures": stats.failures,
            "in_flight": stats.in_flight,
            "avg_latency_ms": stats.avg_latency_ms,
            "availability_score": stats.availability_score(),
            "healthy": stats.healthy,
            "cooldown_s": max(0.0, stats.cooldown_until - now),
            "misconfigured": stats.misconfigured if stats.misconfigured_for(now) > 0 else None,
        }
    out: dict[str, Any] = {"router": attrs.asdict(counters), "backends": backends}
    if patterns:
        out["patterns"] = dict(patterns)
    return out
