"""A rate limiter whose minute budget counts the calls of every process."""

from __future__ import annotations

from typing import TYPE_CHECKING

from claudette.ratelimit import WINDOW_SECONDS, RateLimiter
from claudette.redis_store._clock import epoch_ms

if TYPE_CHECKING:
    from claudette.redis_store._store import RedisStateStore

__all__ = ["RedisRateLimiter", "window_start"]

_WINDOW_MS = int(WINDOW_SECONDS * 1000)


def window_start(ms: int | None = None) -> int:
    """Epoch ms of the start of the minute window holding ``ms`` (now when None)."""
    return (epoch_ms() if ms is None else ms) // _WINDOW_MS * _WINDOW_MS


class RedisRateLimiter(RateLimiter):
    """:class:`RateLimiter` that also subtracts what the other processes spent this minute.

    This process's own calls are counted exactly (a sliding minute, as in memory); the
    other processes' calls come from the shared per-minute counters, as of the last
    refresh. Each acquire is published at once, so the budget may be overshot by what
    the others start within one refresh interval; ``RedisStateStore.reserve`` is the strict, atomic alternative.

    :param name: the backend it counts for.
    :param store: the store that publishes and refreshes the shared counts.
    :param rpm: requests per minute allowed across every process (None: no limit).
    :param tpm: tokens per minute allowed across every process (None: no limit).
    """

    __slots__ = (
        "_others_requests",
        "_others_tokens",
        "_others_window",
        "_own",
        "_p_requests",
        "_p_tokens",
        "_sync",
        "name",
    )

    def __init__(self, name: str, store: RedisStateStore, rpm: int | None, tpm: int | None) -> None:
        super().__init__(rpm, tpm)
        #: The backend this limiter counts for.
        self.name = name
        self._sync = store.synchronizer
        self._p_requests = 0
        self._p_tokens = 0.0
        # What this process has published per window start: (requests, tokens).
        self._own: dict[int, tuple[int, float]] = {}
        self._others_window = 0
        self._others_requests = 0
        self._others_tokens = 0.0

    def acquire(self, tokens: int, now: float | None = None) -> list[float]:
        """Record a starting call here, and queue it for the shared count."""
        event = super().acquire(tokens, now)
        self._p_requests += 1
        self._p_tokens += tokens
        self._sync.limiter_changed(self, started=True)
        return event

    def settle(self, event: list[float], tokens: int) -> None:
        """Replace the estimate with the real usage, here and in the shared count."""
        self._p_tokens += tokens - event[1]
        super().settle(event, tokens)
        self._sync.limiter_changed(self)

    def remaining(self, now: float | None = None) -> tuple[int | None, int | None]:
        """What is left after this process's calls and the others' (as last refreshed)."""
        requests, tokens = super().remaining(now)
        if self._others_window == window_start():
            if requests is not None:
                requests -= self._others_requests
            if tokens is not None:
                tokens -= int(self._others_tokens)
        return requests, tokens

    def take_pending(self) -> tuple[int, int, float]:
        """(window start, requests, tokens) not yet published; cleared here."""
        start = window_start()
        out = (start, self._p_requests, self._p_tokens)
        self._p_requests, self._p_tokens = 0, 0.0
        return out

    def restore_pending(self, pending: tuple[int, int, float]) -> None:
        """Put back what could not be published."""
        _, requests, tokens = pending
        self._p_requests += requests
        self._p_tokens += tokens

    def published(self, pending: tuple[int, int, float]) -> None:
        """Remember what this process added to a window (to tell the others' part)."""
        start, requests, tokens = pending
        own_r, own_t = self._own.get(start, (0, 0.0))
        self._own = {start: (own_r + requests, own_t + tokens)}  # older windows are over

    def apply_remote(self, start: int, requests: str | None, tokens: str | None) -> None:
        """Take the shared counts of window ``start``: the others' part is total - own."""
        own_r, own_t = self._own.get(start, (0, 0.0))
        self._others_window = start
        self._others_requests = max(0, int(requests or 0) - own_r)
        self._others_tokens = max(0.0, float(tokens or 0) - own_t)
