"""Deadlines with one timer per event loop (what ``asyncio.timeout`` does with one per call).

``with fail_after(seconds):`` around an ``await`` raises :class:`TimeoutError` when the
block runs past its deadline, like ``async with asyncio.timeout(seconds):``. Instead of a
timer per block (a heap push, a cancelled handle and a context-manager coroutine per
request) each block is an entry in its loop's :class:`Watchdog`, whose one timer is
re-armed only when an earlier deadline comes in or when it fires. A fired deadline cancels
the block's task; leaving the block turns that cancellation into a ``TimeoutError``, told
apart from a caller's own cancellation by counting cancellation requests
(``Task.cancelling`` / ``Task.uncancel``), as ``asyncio.timeout`` does.

It is a plain (synchronous) context manager, so it also works around one ``await`` inside
an async generator. Like ``asyncio.timeout`` it must be entered and left in one task.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
import weakref
from collections.abc import Callable
from threading import get_ident as _get_ident
from types import TracebackType
from typing import Any

__all__ = ["Watchdog", "fail_after", "watchdog_for"]


class fail_after:  # lower case: used like a function, as anyio and trio name it
    """``with fail_after(seconds): await ...`` raises :class:`TimeoutError` past the deadline.

    ``seconds`` of None or infinity sets no deadline. Raises :class:`RuntimeError` outside
    a task.
    """

    __slots__ = ("_pending", "_seconds", "_task", "_watchdog", "expired")

    def __init__(self, seconds: float | None) -> None:
        self._seconds = seconds
        self._watchdog: Watchdog | None = None
        self.expired = False

    def __enter__(self) -> fail_after:
        seconds = self._seconds
        if seconds is None or seconds == _INF:
            return self
        # The task to cancel at the deadline. asyncio.current_task() finds the running loop
        # first, and on 3.11 that costs a getpid() system call per call; instead the loop
        # of the last watchdog is asked directly, when it is running in this very thread
        # (only one loop can be: its current task is then ours).
        watchdog = _last
        loop = watchdog._loop() if watchdog is not None else None
        task = (
            _current_task(loop)
            if loop is not None and getattr(loop, "_thread_id", None) == _get_ident()
            else None
        )
        if task is None:
            task = asyncio.current_task()
            if task is None:
                raise RuntimeError("fail_after() must be used inside a task")
            watchdog = watchdog_for(task.get_loop())
        assert watchdog is not None
        self._task = task
        self._pending = task.cancelling() if _COUNTS_CANCELS else 0  # type: ignore[attr-defined]
        self._watchdog = watchdog
        when = watchdog.time() + seconds
        watchdog.deadlines[self] = when
        if when < watchdog.at:
            watchdog._arm(when)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        watchdog = self._watchdog
        if watchdog is None:
            return
        self._watchdog = None
        watchdog.deadlines.pop(self, None)
        if (
            self.expired
            and exc_type is not None
            and issubclass(exc_type, asyncio.CancelledError)
            and uncancel(self._task) <= self._pending
        ):
            raise TimeoutError from None

    def expire(self) -> None:
        """Called by the watchdog at the deadline: cancel the block's task."""
        self.expired = True
        self._task.cancel()


class Watchdog:
    """One timer for the deadlines of every :class:`fail_after` block on one event loop.

    A block is a dict entry; the timer is armed at the earliest deadline it knows, re-armed
    only when an earlier one comes in, and when it fires it expires what is due and re-arms
    for the next. A deadline that ended first is simply forgotten (the timer stays: it
    costs nothing when it fires with nothing due).
    """

    __slots__ = ("__weakref__", "_handle", "_loop", "at", "deadlines", "time")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weak references to the loop and to the timer (which holds the loop): a closed
        # loop must not be kept alive by its watchdog.
        self._loop = weakref.ref(loop)
        self._handle: weakref.ref[asyncio.TimerHandle] | None = None
        #: The loop's clock: ``time.monotonic`` itself for asyncio's own loops (whose
        #: ``time()`` returns it), else a call through the weak reference (a bound
        #: ``loop.time`` here would keep the loop alive).
        self.time: Callable[[], float] = (
            time.monotonic
            if getattr(type(loop).time, "__code__", None) is asyncio.BaseEventLoop.time.__code__
            else lambda: _loop_time(self._loop)
        )
        self.deadlines: dict[fail_after, float] = {}
        #: When the timer fires (infinity when it is not armed); never after a deadline.
        self.at = math.inf

    def _cancel_timer(self) -> None:
        handle = self._handle() if self._handle is not None else None
        if handle is not None:
            handle.cancel()
        self._handle = None

    def _arm(self, when: float) -> None:
        loop = self._loop()
        if loop is None:  # pragma: no cover - a deadline entered on a loop that is gone
            return
        self._cancel_timer()
        self.at = when
        self._handle = weakref.ref(loop.call_at(when, self._fire))

    def _fire(self) -> None:
        due_at, self.at, self._handle = self.at, math.inf, None
        deadlines = self.deadlines
        for block in [b for b, when in deadlines.items() if when <= due_at]:
            del deadlines[block]
            block.expire()
        if deadlines:
            self._arm(min(deadlines.values()))


def _loop_time(ref: weakref.ref[asyncio.AbstractEventLoop]) -> float:
    loop = ref()
    return loop.time() if loop is not None else time.monotonic()


#: Each loop's watchdog (weak keys: a closed loop takes its watchdog with it).
_watchdogs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Watchdog] = (
    weakref.WeakKeyDictionary()
)
#: The last one looked up: the loop that runs almost every request.
_last: Watchdog | None = None


def watchdog_for(loop: asyncio.AbstractEventLoop) -> Watchdog:
    """The watchdog of ``loop``, created on first use."""
    global _last
    watchdog = _last
    if watchdog is not None and watchdog._loop() is loop:
        return watchdog
    watchdog = _watchdogs.get(loop)
    if watchdog is None:
        watchdog = _watchdogs[loop] = Watchdog(loop)
    _last = watchdog
    return watchdog


_COUNTS_CANCELS = sys.version_info >= (3, 11)
_INF = math.inf
#: ``asyncio.current_task`` with a loop given: no running-loop lookup.
_current_task = asyncio.current_task


def _forget_last() -> None:
    """In a forked child: the parent's loop may still look as if it ran in this thread."""
    global _last
    _last = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_last)

if sys.version_info >= (3, 11):

    def uncancel(task: asyncio.Task[Any]) -> int:
        """Withdraw the deadline's cancellation request; the requests still pending."""
        return task.uncancel()

else:  # pragma: no cover - 3.10: no request counting; a fired deadline is a timeout

    def uncancel(task: asyncio.Task[Any]) -> int:
        """Withdraw the deadline's cancellation request (nothing to withdraw on 3.10)."""
        return 0
