"""A spending cap in EUR per period (``[router.budget]``).

Selection asks the :class:`SpendLedger` whether a paid backend's estimated cost still fits
the period's budget; a call that starts reserves its estimate, and when it ends the
reservation is replaced by what it really cost. Reserving makes the cap hold under
concurrency: many requests arriving at once cannot all spend the last euro.

Past the cap, ``on_exhausted = "free_only"`` keeps only free backends (cost 0) usable and
``"error"`` fails every request with :class:`~claudette.errors.BudgetExceededError`; the
error mode also fails a request as soon as the budget leaves it no paid backend, rather
than moving it quietly to a free one.
Periods are calendar periods in UTC: ``hour``, ``day``, ``week`` (from Monday), ``month``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from claudette.types import BudgetOptions

__all__ = ["SpendLedger", "period_key", "period_start"]

_DAY = 86_400
#: Sums of float prices drift; a billionth of a euro is no overspend.
_EPSILON = 1e-9


def period_key(period: str, wall_time: float) -> int:
    """A number that changes exactly when a new ``period`` starts (UTC)."""
    if period == "hour":
        return int(wall_time // 3600)
    if period == "day":
        return int(wall_time // _DAY)
    if period == "week":
        # 1970-01-01 was a Thursday: shift by 3 days so weeks start on Monday.
        return int((wall_time + 3 * _DAY) // (7 * _DAY))
    if period == "month":
        t = time.gmtime(wall_time)
        return t.tm_year * 12 + t.tm_mon - 1
    raise ValueError(f"unknown budget period {period!r}")


def period_start(period: str, wall_time: float) -> float:
    """When the ``period`` containing ``wall_time`` started (Unix time, UTC)."""
    if period == "hour":
        return (wall_time // 3600) * 3600
    if period == "day":
        return (wall_time // _DAY) * _DAY
    if period == "week":
        return ((wall_time + 3 * _DAY) // (7 * _DAY)) * 7 * _DAY - 3 * _DAY
    if period == "month":
        import calendar

        t = time.gmtime(wall_time)
        return float(calendar.timegm((t.tm_year, t.tm_mon, 1, 0, 0, 0)))
    raise ValueError(f"unknown budget period {period!r}")


class SpendLedger:
    """What the current period has spent and reserved.

    :param options: the cap, the period and what happens past the cap.
    :param clock: wall-clock time in seconds (injectable for tests).
    """

    def __init__(self, options: BudgetOptions, clock: Callable[[], float] = time.time) -> None:
        self.options = options
        self._clock = clock
        self._key = period_key(options.period, clock())
        self.spent = 0.0
        self.reserved = 0.0

    def _roll(self) -> None:
        key = period_key(self.options.period, self._clock())
        if key != self._key:
            self._key = key
            self.spent = 0.0

    @property
    def period_started(self) -> float:
        """When the current period started (Unix time)."""
        return period_start(self.options.period, self._clock())

    def resume(self, spent: float) -> None:
        """Count ``spent`` EUR as already spent this period (what a cost ledger recorded
        before this process started); never lowers what is counted."""
        self._roll()
        self.spent = max(self.spent, spent)

    @property
    def committed(self) -> float:
        """Spent plus reserved in the current period."""
        self._roll()
        return self.spent + self.reserved

    def exhausted(self) -> bool:
        """True when the cap is reached (reservations included)."""
        return self.committed >= self.options.limit_eur - _EPSILON

    def allows(self, cost: float) -> bool:
        """Whether a call estimated at ``cost`` EUR fits what is left."""
        return self.committed + cost <= self.options.limit_eur + _EPSILON

    def reserve(self, cost: float) -> float:
        """Reserve ``cost`` for a call that starts now; returns the amount to settle."""
        self._roll()
        self.reserved += cost
        return cost

    def settle(self, reserved: float, cost: float) -> None:
        """A call ended: release its reservation and add what it really cost."""
        self._roll()
        self.reserved = max(0.0, self.reserved - reserved)
        self.spent += cost

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready view for ``router.stats()``."""
        committed = self.committed
        return {
            "limit_eur": self.options.limit_eur,
            "period": self.options.period,
            "spent_eur": self.spent,
            "reserved_eur": self.reserved,
            "left_eur": max(0.0, self.options.limit_eur - committed),
            "on_exhausted": self.options.on_exhausted,
        }
