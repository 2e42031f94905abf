"""Health checks in the background: a stale result is refreshed, never waited for.

With ``RouterOptions.health_checks`` (the default) every selection hands the backends it
considers to :meth:`HealthRefresher.refresh_stale`: a backend whose last check is older
than its ``health_check_ttl`` gets a background task running ``backend.refresh_health()``
(which shares one check among concurrent callers), at most one task per backend at a
time. Selection reads the last result from the backend's statistics meanwhile; a backend
never checked is trusted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from claudette.backend import BaseBackend

__all__ = ["HealthRefresher"]


class HealthRefresher:
    """The background health-check task of each backend."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[bool]] = {}

    def refresh_stale(self, backends: Iterable[BaseBackend], now: float) -> None:
        """Start a check of each of ``backends`` whose result is stale and not being refreshed."""
        for backend in backends:
            if not backend.health_is_stale(now):
                continue
            task = self._tasks.get(backend.name)
            if task is None or task.done():
                loop = asyncio.get_running_loop()
                self._tasks[backend.name] = loop.create_task(backend.refresh_health())

    def forget(self, name: str) -> None:
        """Stop tracking the task of an unregistered backend (it finishes by itself)."""
        self._tasks.pop(name, None)

    async def aclose(self) -> None:
        """Cancel the checks under way and wait until they have stopped."""
        tasks = [t for t in self._tasks.values() if not t.done()]
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
