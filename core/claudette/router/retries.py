"""Retries: a retryable failure is tried again on the same backend before the router falls back.

Off unless a backend sets ``max_retries`` (see :mod:`claudette.retry` for why, and for the
delays). Each failed attempt is recorded like any other, so the breaker sees every
failure. Before sleeping a backoff, the retry must be possible: the breaker lets a call
through, the rate limit and the budget have room, and any cool-down ends within the
backoff; if not, the last failure goes on to the fallback sequence at once, without
sleeping. After the backoff the backend must still be usable and its breaker must grant
the call. One request sleeps at most ``RouterOptions.max_retry_wait`` seconds in all,
across every backend it tries.
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


def _retry_refused(
    entry: Entry, request: ClaudetteRequest, delay: float, gates: RequestGates
) -> bool:
    """Whether a retry after ``delay`` seconds could not be made, judged before sleeping.

    The breaker must let a call through and the rate limit must have room now; a
    cool-down must end within the backoff. When any of them refuses, sleeping the
    backoff would only delay the fallback.
    """
    backend, stats, breaker = entry
    now = time.monotonic()
    if stats.cooldown_until > now + delay + _COOLDOWN_SLACK:
        return True
    if not breaker.allows_request():
        return True
    return gates.reason(backend, request, now) is not None


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
            if delay > budget.seconds_left or _retry_refused(entry, request, delay, gates):
                raise
            budget.seconds_left -= delay
            await asyncio.sleep(delay)
            left = backend.stats.cooldown_until - time.monotonic()
            if 0 < left <= _COOLDOWN_SLACK:
                await asyncio.sleep(left + 0.001)
            # Other requests may have changed the backend's state during the backoff.
            if unusable_reason(entry, request, time.monotonic(), gates) is not None:
                raise
            if not await entry.breaker.acquire():
                raise
            retries += 1
            counters.retries += 1
            logger.info(
                "retrying %r (retry %d of %d) after %s", backend.name, retries, max_retries, error
            )
