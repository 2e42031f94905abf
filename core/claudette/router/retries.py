"""Retries: a retryable failure is tried again on the same backend before the router falls back.

Off unless a backend sets ``max_retries`` (see :mod:`claudette.retry` for why, and for the
delays). Each failed attempt is recorded like any other, so the breaker sees every
failure. A retry waits its backoff and happens only while the backend is still usable
(breaker, cool-down, rate limit, budget) and its breaker lets the call through; one
request sleeps at most ``RouterOptions.max_retry_wait`` seconds in all, across every
backend it tries. Otherwise the last failure goes on to the fallback sequence.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from claudette._log import logger
from claudette.errors import BackendError
from claudette.router.selection import unusable_reason

if TYPE_CHECKING:
    from claudette.router.counters import RouterCounters
    from claudette.router.gates import RequestGates
    from claudette.router.selection import Entry
    from claudette.types import ClaudetteRequest

__all__ = ["RetryBudget", "with_retries"]

T = TypeVar("T")

#: A cool-down ending this close after the backoff (the timer fired a hair early) is waited out.
_COOLDOWN_SLACK = 0.05


class RetryBudget:
    """The backoff one request may still sleep, across every backend it tries.

    :param seconds: ``RouterOptions.max_retry_wait``.
    """

    __slots__ = ("seconds_left",)

    def __init__(self, seconds: float) -> None:
        self.seconds_left = seconds


async def with_retries(
    call: Callable[[], Awaitable[T]],
    entry: Entry,
    request: ClaudetteRequest,
    budget: RetryBudget,
    *,
    gates: RequestGates,
    counters: RouterCounters,
) -> T:
    """``await call()``, repeated on retryable failures up to the backend's ``max_retries``.

    :param call: one attempt of ``request`` on ``entry``'s backend.
    :raises BackendError: the last failure, when no retry is left or allowed.
    """
    from claudette import retry  # the delays (loaded only by a router whose backends retry)

    backend = entry.backend
    max_retries = backend.settings.max_retries or 0
    retries = 0
    while True:
        try:
            return await call()
        except BackendError as error:
            if not error.retryable or retries >= max_retries:
                raise
            delay = retry.backoff_delay(retries, error.retry_after)
            if delay > budget.seconds_left:
                raise
            budget.seconds_left -= delay
            await asyncio.sleep(delay)
            left = backend.stats.cooldown_until - time.monotonic()
            if 0 < left <= _COOLDOWN_SLACK:
                await asyncio.sleep(left + 0.001)
            now = time.monotonic()
            if unusable_reason(entry, request, now, gates) is not None:
                raise
            if not await entry.breaker.acquire():
                raise
            retries += 1
            counters.retries += 1
            logger.info(
                "retrying %r (retry %d of %d) after %s", backend.name, retries, max_retries, error
            )
