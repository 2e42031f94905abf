"""The router: choose a backend for each request, call it under its breaker, fall back.

One behaviour per module:

- :mod:`.backend_router`: :class:`BackendRouter`, which holds the backends and their
  state and composes the parts below;
- :mod:`.selection`: which backend should take a request now, and why the others may not
  (pure: skip reasons, scores, region preference, :class:`Candidate`);
- :mod:`.fallback`: the backends one request tries in turn, shared by ``route_request``
  and ``stream``;
- :mod:`.attempt`: one call to one backend and its accounting, shared by sending,
  streaming and request batching;
- :mod:`.gates`: rate limits and the budget;
- :mod:`.retries`: retries with backoff on the same backend;
- :mod:`.health`: background health checks;
- :mod:`.counters`: :class:`RouterCounters`, the router's totals.

The response cache and adaptive weights live with their patterns
(:class:`claudette.cache.CachedRouting`, :class:`claudette.adaptive.AdaptiveWeights`).
"""

from __future__ import annotations

from claudette.router.backend_router import BackendRouter
from claudette.router.counters import RouterCounters
from claudette.router.selection import Candidate

__all__ = ["BackendRouter", "Candidate", "RouterCounters"]
