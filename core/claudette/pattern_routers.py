"""Routers with one routing pattern switched on: :class:`BackendRouter` subclasses.

Each class only chooses :class:`RouterOptions` for its pattern in ``__init__`` and adds
no behaviour, so it routes exactly as ``BackendRouter(options)`` with those options
would, and ``isinstance(router, BackendRouter)`` holds. Options passed in are kept; the
pattern's own argument replaces only its field. They are exported lazily from
``claudette`` (importing claudette does not load this module).

    router = LoadBalancingRouter()            # strategy = "least_requests"
    router = MultiRegionRouter("eu-west")     # preferred region, global fallback
    router = AdaptiveRouter(interval=60)      # adaptive weights every minute
    router = IntelligentBackendCache(ttl=600) # response cache with adaptive TTL
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from claudette.router import BackendRouter
from claudette.types import AdaptiveOptions, CacheOptions, RouterOptions, Strategy

if TYPE_CHECKING:
    from claudette.plugins import ClaudettePlugins
    from claudette.state import StateStore

__all__ = ["AdaptiveRouter", "IntelligentBackendCache", "LoadBalancingRouter", "MultiRegionRouter"]


class LoadBalancingRouter(BackendRouter):
    """A router that spreads load instead of scoring: ``RouterOptions.strategy`` set.

    :param options: the other options (``RouterOptions()`` when omitted).
    :param strategy: ``least_requests`` (default: the fewest requests in flight) or
        ``weighted_random`` (in proportion to each backend's ``weight``).
    :param plugins: as for :class:`BackendRouter`.
    :param store: as for :class:`BackendRouter`.
    """

    def __init__(
        self,
        options: RouterOptions | None = None,
        *,
        strategy: Strategy = "least_requests",
        plugins: ClaudettePlugins | None = None,
        store: StateStore | None = None,
    ) -> None:
        options = attrs.evolve(options or RouterOptions(), strategy=strategy)
        super().__init__(options, plugins=plugins, store=store)


class MultiRegionRouter(BackendRouter):
    """A router that prefers backends in ``region`` and falls back to all others.

    A request's own ``region`` still overrides the preferred one.

    :param region: the preferred region (``RouterOptions.region``).
    :param options: the other options (``RouterOptions()`` when omitted).
    :param plugins: as for :class:`BackendRouter`.
    :param store: as for :class:`BackendRouter`.
    """

    def __init__(
        self,
        region: str,
        options: RouterOptions | None = None,
        *,
        plugins: ClaudettePlugins | None = None,
        store: StateStore | None = None,
    ) -> None:
        options = attrs.evolve(options or RouterOptions(), region=region)
        super().__init__(options, plugins=plugins, store=store)


class AdaptiveRouter(BackendRouter):
    """A router whose scoring weights adapt every ``interval`` seconds.

    :param options: the other options (``RouterOptions()`` when omitted).
    :param interval: seconds between adaptations.
    :param plugins: as for :class:`BackendRouter`.
    :param store: as for :class:`BackendRouter`.
    :param adaptive: further :class:`~claudette.types.AdaptiveOptions` fields
        (``step``, ``min_weight`` ...).
    """

    def __init__(
        self,
        options: RouterOptions | None = None,
        *,
        interval: float = 300.0,
        plugins: ClaudettePlugins | None = None,
        store: StateStore | None = None,
        **adaptive: Any,
    ) -> None:
        options = attrs.evolve(
            options or RouterOptions(), adaptive=AdaptiveOptions(interval=interval, **adaptive)
        )
        super().__init__(options, plugins=plugins, store=store)


class IntelligentBackendCache(BackendRouter):
    """A router with the response cache on (LRU, adaptive TTL).

    :param options: the other options (``RouterOptions()`` when omitted).
    :param max_entries: the most answers kept.
    :param ttl: seconds an answer is kept, before the adaptive adjustments.
    :param plugins: as for :class:`BackendRouter`.
    :param store: as for :class:`BackendRouter`.
    :param cache: further :class:`~claudette.types.CacheOptions` fields
        (``max_ttl``, ``adaptive_ttl`` ...).
    """

    def __init__(
        self,
        options: RouterOptions | None = None,
        *,
        max_entries: int = 1024,
        ttl: float = 300.0,
        plugins: ClaudettePlugins | None = None,
        store: StateStore | None = None,
        **cache: Any,
    ) -> None:
        options = attrs.evolve(
            options or RouterOptions(), cache=CacheOptions(max_entries=max_entries, ttl=ttl, **cache)
        )
        super().__init__(options, plugins=plugins, store=store)
