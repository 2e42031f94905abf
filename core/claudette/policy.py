"""The default circuit-breaker policy, as an internal ``trylast`` plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from claudette.hookspecs import hookimpl
from claudette.types import BreakerPolicy

if TYPE_CHECKING:
    from claudette.backend import BaseBackend

__all__ = ["DEFAULT_BREAKER_POLICY"]

#: The seed's breaker: open after 5 failures, probe after 5 minutes, one probe at a time.
DEFAULT_BREAKER_POLICY = BreakerPolicy()


class DefaultBreakerPolicy:
    """The built-in policy; any plugin implementing the hook runs before it."""

    @hookimpl(trylast=True)
    def claudette_breaker_policy(self, backend: BaseBackend) -> BreakerPolicy:
        """The seed policy for every backend."""
        return DEFAULT_BREAKER_POLICY
