"""Times in Redis are epoch milliseconds; the router's local views use ``time.monotonic()``.

Epoch time is what every process agrees on (with NTP-synced hosts); the monotonic clock
is what the breakers, statistics and limiters compare against locally.
"""

from __future__ import annotations

import time

__all__ = ["epoch_ms", "to_monotonic"]


def epoch_ms(monotonic: float | None = None) -> int:
    """Wall-clock epoch milliseconds of a ``time.monotonic()`` instant (now when None)."""
    if monotonic is None:
        return int(time.time() * 1000)
    return int((time.time() - (time.monotonic() - monotonic)) * 1000)


def to_monotonic(ms: int) -> float:
    """The ``time.monotonic()`` instant of epoch milliseconds ``ms``."""
    return time.monotonic() - (time.time() - ms / 1000.0)
