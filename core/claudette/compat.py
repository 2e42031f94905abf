"""The seed document's router names, as thin conveniences over :class:`BackendRouter`.

Each returns a plain ``BackendRouter`` configured for one pattern; nothing subclasses it.
They are exported lazily from ``claudette`` (importing claudette does not load this).

    router = LoadBalancingRouter()            # strategy = "least_requests"
    router = MultiRegionRouter("eu-west")     # preferred region, global fallback
    router = AdaptiveRouter(interval=60)      # adaptive weights every minute
    router = IntelligentBackendCache(ttl=600) # response cache with adaptive TTL
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from claudette.router import BackendRouter
from claudette.types import AdaptiveOptions, CacheOptions, RouterOptions

if TYPE_CHECKING:
    from claudette.plugins import ClaudettePlugins
    from claudette.state import StateStore

__all__ = ["AdaptiveRouter", "IntelligentBackendCache", "LoadBalancingRouter", "MultiRegionRouter"]


def _router(
    options: RouterOptions | None,
    plugins: ClaudettePlugins | None,
    store: StateStore | None,
    **changes: Any,
) -> BackendRouter:
    return BackendRouter(attrs.evolve(options or RouterOptions(), **changes), plugins=plugins, store=store)


def LoadBalancingRouter(
    options: RouterOptions | None = None,
    *,
    strategy: str = "least_requests",
    plugins: ClaudettePlugins | None = None,
    store: StateStore | None = None,
) -> BackendRouter:
    """A router that spreads load: ``least_requests`` (default) or ``weighted_random``."""
    return _router(options, plugins, store, strategy=strategy)


def MultiRegionRouter(
    region: str,
    options: RouterOptions | None = None,
    *,
    plugins: ClaudettePlugins | None = None,
    store: StateStore | None = None,
) -> BackendRouter:
    """A router that prefers backends in ``region`` and falls back to all others.

    A request's own ``region`` still overrides the preferred one.
    """
    return _router(options, plugins, store, region=region)


def AdaptiveRouter(
    options: RouterOptions | None = None,
    *,
    interval: float = 300.0,
    plugins: ClaudettePlugins | None = None,
    store: StateStore | None = None,
    **adaptive: Any,
) -> BackendRouter:
    """A router whose weights adapt every ``interval`` seconds (see ``AdaptiveOptions``)."""
    return _router(options, plugins, store, adaptive=AdaptiveOptions(interval=interval, **adaptive))


def IntelligentBackendCache(
    options: RouterOptions | None = None,
    *,
    max_entries: int = 1024,
    ttl: float = 300.0,
    plugins: ClaudettePlugins | None = None,
    store: StateStore | None = None,
    **cache: Any,
) -> BackendRouter:
    """A router with the response cache on (LRU, adaptive TTL; see ``CacheOptions``)."""
    return _router(
        options, plugins, store, cache=CacheOptions(max_entries=max_entries, ttl=ttl, **cache)
    )
