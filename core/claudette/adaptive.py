"""Adaptive scoring weights: the router leans towards what hurts most right now.

Every ``[router.adaptive] interval`` seconds (a background task the router starts with
its first request, or an explicit ``router.adapt_weights()`` from your own timer) the
router looks at what happened since the last adaptation:

- mean latency above ``latency_threshold_ms`` → the latency weight rises by ``step``;
- mean cost per answer above ``cost_threshold_eur`` → the cost weight rises by ``step``;
- failure rate above ``failure_rate_threshold`` → the availability weight rises by ``step``;
- the weights not under pressure give way: together they lose what the others gained,
  each in proportion to its weight (0.4/0.4/0.2 with latency pressure and a step of
  0.1 becomes 0.333/0.5/0.167);
- when nothing is under pressure, every weight moves back towards its configured value
  by ``step / 2``; an interval without calls changes nothing.

Each weight stays within ``[min_weight, max_weight]`` and the three sum to 1: a rise
stops at ``max_weight``, a weight giving way stops at ``min_weight`` (the rises shrink
when the others cannot give enough), and when all three are under pressure none can
rise. Never on the request path: selection only reads the current weights.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from claudette._log import logger

if TYPE_CHECKING:
    from claudette.router import BackendRouter
    from claudette.types import AdaptiveOptions, RouterOptions

__all__ = ["AdaptiveWeights", "Observation"]

Weights = tuple[float, float, float]


@attrs.frozen
class Observation:
    """What the router saw between two adaptations.

    :param calls: finished backend calls.
    :param failures: calls that failed through the provider's fault.
    :param answers: requests answered.
    :param mean_latency_ms: mean latency of the calls (weighted by each backend's calls).
    :param mean_cost_eur: mean cost per answer.
    :param failure_rate: ``failures / calls`` (0 without calls).
    """

    calls: int
    failures: int
    answers: int
    mean_latency_ms: float
    mean_cost_eur: float
    failure_rate: float


def _bounded(weights: list[float], low: float, high: float) -> Weights:
    """Clamp to [low, high] and normalise to sum 1, keeping the bounds where possible."""
    w = [min(max(x, low), high) for x in weights]
    for _ in range(10):
        total = sum(w)
        w = [x / total for x in w]
        clamped = [min(max(x, low), high) for x in w]
        if clamped == w:
            break
        w = clamped
    c, lat, a = (round(x, 4) for x in w)
    return (c, lat, a)


def _pressed(
    current: Weights, pressure: tuple[bool, bool, bool], step: float, low: float, high: float
) -> Weights:
    """Each weight under pressure rises by ``step``; the others give the rise away.

    A pressured weight rises by ``step``, or up to ``high``; the others give up the sum
    of the rises in proportion to their weights, none below ``low`` (the others' share
    goes to those above it). When the others cannot give that much, every rise shrinks
    in proportion; when all three are under pressure, none can rise.
    """
    w = list(_bounded(list(current), low, high))  # a sane start: sums to 1, within bounds
    down = [i for i, pushed in enumerate(pressure) if not pushed]
    if not down:
        return (w[0], w[1], w[2])
    rises = [
        max(0.0, min(x + step, high) - x) if pushed else 0.0
        for x, pushed in zip(w, pressure, strict=True)
    ]
    total = sum(rises)
    room = sum(max(0.0, w[j] - low) for j in down)
    if total > room:
        rises = [r * room / total for r in rises]
        total = room
    need = total
    giving = [j for j in down if w[j] > low]
    while need > 1e-12 and giving:
        share = sum(w[j] for j in giving)
        floored = [j for j in giving if w[j] - need * w[j] / share < low]
        if not floored:
            for j in giving:
                w[j] -= need * w[j] / share
            break
        for j in floored:
            need -= w[j] - low
            w[j] = low
        giving = [j for j in giving if j not in floored]
    c, lat, a = (round(x + r, 4) for x, r in zip(w, rises, strict=True))
    return (c, lat, a)


class AdaptiveWeights:
    """Keeps the snapshot between adaptations and computes the next weights.

    :param options: thresholds, step, bounds and interval.
    :param base: the configured options whose weights adaptation relaxes back to.
    """

    def __init__(self, options: AdaptiveOptions, base: RouterOptions) -> None:
        self.options = options
        self.base: Weights = (base.cost_weight, base.latency_weight, base.availability_weight)
        self.adaptations = 0
        self.last_adapted_at: float | None = None
        self.last_observation: Observation | None = None
        self._backend_marks: dict[str, tuple[int, int]] = {}
        self._router_marks = (0, 0.0)

    def observe(self, router: BackendRouter) -> Observation:
        """What happened since the previous call (the first call covers everything so far)."""
        calls = failures = 0
        latency_sum = 0.0
        for name, backend in router.backends.items():
            stats = backend.stats
            prev_calls, prev_failures = self._backend_marks.get(name, (0, 0))
            d_calls = max(0, stats.calls - prev_calls)
            calls += d_calls
            failures += max(0, stats.failures - prev_failures)
            latency_sum += d_calls * stats.avg_latency_ms
            self._backend_marks[name] = (stats.calls, stats.failures)
        counters = router.counters
        prev_answers, prev_cost = self._router_marks
        answers = max(0, counters.successes - prev_answers)
        cost = max(0.0, counters.cost_eur - prev_cost)
        self._router_marks = (counters.successes, counters.cost_eur)
        return Observation(
            calls=calls,
            failures=failures,
            answers=answers,
            mean_latency_ms=latency_sum / calls if calls else 0.0,
            mean_cost_eur=cost / answers if answers else 0.0,
            failure_rate=failures / calls if calls else 0.0,
        )

    def next_weights(self, current: Weights, seen: Observation) -> Weights:
        """The weights after one adaptation step from ``current``."""
        o = self.options
        if not seen.calls:
            return current  # nothing happened: nothing to learn from
        pressure = (
            seen.mean_cost_eur > o.cost_threshold_eur,
            seen.mean_latency_ms > o.latency_threshold_ms,
            seen.failure_rate > o.failure_rate_threshold,
        )
        if any(pressure):
            return _pressed(current, pressure, o.step, o.min_weight, o.max_weight)
        half = o.step / 2
        out = [
            w + min(max(base - w, -half), half) for w, base in zip(current, self.base, strict=True)
        ]
        return _bounded(out, o.min_weight, o.max_weight)

    def adapt(self, router: BackendRouter) -> Weights:
        """Observe ``router`` and return its next weights (the router applies them)."""
        seen = self.observe(router)
        r = router.options
        weights = self.next_weights((r.cost_weight, r.latency_weight, r.availability_weight), seen)
        self.adaptations += 1
        self.last_adapted_at = time.time()
        self.last_observation = seen
        return weights

    async def run(self, adapt: Callable[[], object]) -> None:
        """Call ``adapt`` (the router's ``adapt_weights``) every ``interval`` seconds.

        Runs until cancelled; a failing adaptation is logged and the next one still runs.
        """
        while True:
            await asyncio.sleep(self.options.interval)
            try:
                adapt()
            except Exception:
                logger.exception("adapting the weights failed")

    def snapshot(self, router: BackendRouter) -> dict[str, Any]:
        """A JSON-ready view for ``router.stats()``."""
        r = router.options
        seen = self.last_observation
        return {
            "weights": {
                "cost": r.cost_weight,
                "latency": r.latency_weight,
                "availability": r.availability_weight,
            },
            "base_weights": dict(zip(("cost", "latency", "availability"), self.base, strict=True)),
            "interval_s": self.options.interval,
            "adaptations": self.adaptations,
            "last_adapted_at": self.last_adapted_at,
            "last_observation": attrs.asdict(seen) if seen is not None else None,
        }
