"""Attempt deadlines with one timer per event loop (what ``asyncio.timeout`` does per call).

The router registers each attempt's deadline with the loop's :class:`Watchdog`; the
watchdog cancels the attempt's task when it is due, and the router turns that
cancellation into a timeout (telling it apart from a caller's cancellation with
:func:`cancelling` / :func:`uncancel`).
"""

from __future__ import annotations

import asyncio
import math
import sys
from typing import Any

__all__ = ["Deadline", "Watchdog", "cancelling", "uncancel"]


class Deadline:
    """Cancels its task when the attempt's time is up, and remembers doing so."""

    __slots__ = ("expired", "task")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.expired = False

    def expire(self) -> None:
        self.expired = True
        self.task.cancel()


class Watchdog:
    """One timer for the deadlines of every attempt running on one event loop.

    A timer per attempt (``asyncio.timeout``) costs a heap push and a cancelled handle
    per request; here an attempt is a dict entry, and the one timer is re-armed only when
    an earlier deadline comes in, or when it fires (at the earliest deadline it was set for).
    """

    __slots__ = ("at", "deadlines", "handle", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.deadlines: dict[Deadline, float] = {}
        self.handle: asyncio.TimerHandle | None = None
        #: When the timer fires (infinity when it is not armed); never after a deadline.
        self.at = math.inf

    def watch(self, deadline: Deadline, when: float) -> None:
        """Expire ``deadline`` at loop time ``when`` unless :meth:`unwatch` comes first."""
        self.deadlines[deadline] = when
        if when < self.at:
            self._arm(when)

    def unwatch(self, deadline: Deadline) -> None:
        """The attempt ended: forget its deadline (the timer stays, it costs nothing)."""
        self.deadlines.pop(deadline, None)

    def stop(self) -> None:
        """Disarm the timer (the router is closing)."""
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        self.at = math.inf

    def _arm(self, when: float) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.at = when
        self.handle = self.loop.call_at(when, self._fire)

    def _fire(self) -> None:
        due_at, self.at, self.handle = self.at, math.inf, None
        deadlines = self.deadlines
        for deadline in [d for d, when in deadlines.items() if when <= due_at]:
            del deadlines[deadline]
            deadline.expire()
        if deadlines:
            self._arm(min(deadlines.values()))


if sys.version_info >= (3, 11):

    def cancelling(task: asyncio.Task[Any]) -> int:
        """Cancellation requests pending on ``task``."""
        return task.cancelling()

    def uncancel(task: asyncio.Task[Any]) -> int:
        """Withdraw the deadline's cancellation request; the requests still pending."""
        return task.uncancel()

else:  # pragma: no cover - 3.10: no request counting; a fired deadline is a timeout

    def cancelling(task: asyncio.Task[Any]) -> int:
        """Cancellation requests pending on ``task`` (not counted on 3.10)."""
        return 0

    def uncancel(task: asyncio.Task[Any]) -> int:
        """Withdraw the deadline's cancellation request (nothing to withdraw on 3.10)."""
        return 0
