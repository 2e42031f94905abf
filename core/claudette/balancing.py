"""Load-balancing strategies: how the router picks among usable backends.

``RouterOptions.strategy`` chooses one:

- ``score`` (default): the ``claudette_score_backend`` hook (the weighted sum of cost,
  latency and availability unless a plugin overrides it);
- ``least_requests``: the fewest requests in flight, then the fewest in total;
- ``weighted_random``: at random, in proportion to each backend's ``weight``.

Each strategy is a function with the scoring hook's signature (lowest score wins), so the
router treats them alike and the usual tie-break (priority, then name) still applies.
Weighted random uses exponential keys: ``-ln(U) / weight`` is lowest for backend *i*
with probability ``weight_i / Σ weight``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from claudette.backend import BaseBackend
    from claudette.state import BackendStats
    from claudette.types import ClaudetteRequest, RouterOptions

__all__ = ["STRATEGIES", "ScoreFunction", "least_requests_score", "weighted_random_score"]

#: The signature of a scoring strategy (the scoring hook's, as a plain function).
ScoreFunction = Callable[..., "float | None"]

#: In-flight requests dominate: one more in flight outweighs any total count.
_IN_FLIGHT_FACTOR = 1e9


def least_requests_score(
    backend: BaseBackend, request: ClaudetteRequest, stats: BackendStats, options: RouterOptions
) -> float:
    """Requests in flight, then requests in total (finished plus in flight)."""
    in_flight = stats.in_flight
    return in_flight * _IN_FLIGHT_FACTOR + stats.calls + in_flight


def weighted_random_score(
    backend: BaseBackend,
    request: ClaudetteRequest,
    stats: BackendStats,
    options: RouterOptions,
    _random: Callable[[], float] = random.random,
) -> float:
    """An exponential key with rate ``weight`` (default 1): lowest wins ∝ weight."""
    weight = backend.settings.weight or 1.0
    return -math.log(1.0 - _random()) / weight


#: Built-in strategies other than ``score`` (which calls the scoring hook).
STRATEGIES: dict[str, ScoreFunction] = {
    "least_requests": least_requests_score,
    "weighted_random": weighted_random_score,
}
