"""The default circuit-breaker policy, as an internal ``trylast`` plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from claudette.hookspecs import hookimpl
from claudette.types import BreakerPolicy

if TYPE_CHECKING:
    from claudette.backend import BaseBackend

__all__ = ["DEFAULT_BREAKER_POLICY"]

#: Open after 5 consecutive failures, probe again after 5 minutes, one probe at a time:
#: a provider that fails five times in a row is down rather than unlucky, and one probe
#: tells whether it is back without sending it a burst of traffic.
DEFAULT_BREAKER_POLICY = BreakerPolicy()


class DefaultBreakerPolicy:
    """The built-in policy; any plugin implementing the hook runs before it."""

    @hookimpl(trylast=True)
    def claudette_breaker_policy(self, backend: BaseBackend) -> BreakerPolicy:
        """:data:`DEFAULT_BREAKER_POLICY` for every backend."""
        return DEFAULT_BREAKER_POLICY
