"""Health checks in the background: a stale result is refreshed, never waited for.

With ``RouterOptions.health_checks`` (the default) every selection hands the backends it
considers to :meth:`HealthRefresher.refresh_stale`: a backend whose last check is older
than its ``health_check_ttl`` gets a background task running ``backend.refresh_health()``
(which shares one check among concurrent callers), at most one task per backend at a
time. Selection reads the last result from the backend's statistics meanwhile; a backend
never checked is trusted.

Checks never disturb traffic:

- real traffic is the health signal: a backend that answered within its
  ``health_check_ttl`` (and has not failed since) is not checked;
- a check never starts while a request to the same server (the same ``base_url``) is in
  flight, nor when one starts between the check's scheduling and its first step: some
  servers (llama-cpp-python) interrupt a running answer when another request arrives.
  The check runs on a later selection, when the server is idle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from claudette.backend import BaseBackend

__all__ = ["HealthRefresher"]


class HealthRefresher:
    """The background health-check task of each backend."""

    def __init__(self, servers: Callable[[], Iterable[BaseBackend]]) -> None:
        """:param servers: every registered backend (to see which share a server)."""
        self._tasks: dict[str, asyncio.Task[bool | None]] = {}
        self._all = servers

    def refresh_stale(self, backends: Iterable[BaseBackend], now: float) -> None:
        """Start a check of each of ``backends`` whose result is stale and not being refreshed,
        unless it answered recently or its server is busy."""
        for backend in backends:
            if not backend.health_is_stale(now) or backend.answered_recently(now):
                continue
            task = self._tasks.get(backend.name)
            if (task is None or task.done()) and not self._server_busy(backend):
                loop = asyncio.get_running_loop()
                self._tasks[backend.name] = loop.create_task(self._check(backend))

    def _server_busy(self, backend: BaseBackend) -> bool:
        """Whether a request to ``backend``'s server is in flight (through any backend)."""
        if backend.stats.in_flight > 0:
            return True
        server = backend.settings.base_url
        if not server:
            return False
        return any(
            other.stats.in_flight > 0 and other.settings.base_url == server for other in self._all()
        )

    async def _check(self, backend: BaseBackend) -> bool | None:
        """The check, unless a request to the server started since it was scheduled."""
        await asyncio.sleep(0)
        if self._server_busy(backend):
            return None
        return await backend.refresh_health()

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
