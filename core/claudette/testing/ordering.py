"""Plugins that make a router's choices predictable in a test.

- :class:`ByPriority`: backends are tried in the order of their ``priority`` setting (lowest first),
  whatever their price, latency or health, so a test knows which backend a request
  reaches first and which one it falls back to;
- :class:`BreakAfter`: every breaker opens after ``threshold`` failures in a row, so a
  test opens one in a few calls.
"""

from __future__ import annotations

from claudette.backend import BaseBackend
from claudette.hookspecs import hookimpl
from claudette.options import BreakerPolicy

__all__ = ["BreakAfter", "ByPriority"]


class ByPriority:
    """Scores each backend by its ``priority`` setting alone (lower is tried first)."""

    @hookimpl
    def claudette_score_backend(self, backend: BaseBackend) -> float:
        """The backend's priority, as its score."""
        return float(backend.settings.priority)


class BreakAfter:
    """Gives every backend a breaker that opens after ``threshold`` consecutive failures.

    :param threshold: the failures in a row that open a breaker.
    """

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold

    @hookimpl
    def claudette_breaker_policy(self) -> BreakerPolicy:
        """The default policy with ``failure_threshold`` set to ``threshold``."""
        return BreakerPolicy(failure_threshold=self.threshold)
