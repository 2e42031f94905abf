"""The default circuit-breaker policy, as an internal ``trylast`` plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from claudette.hookspecs import hookimpl
from claudette.types import BreakerPolicy

if TYPE_CHECKING:
    from claudette.backend import BaseBackend

__all__ = ["DEFAULT_BREAKER_POLICY"]

#: Open after 10 consecutive failures or a 60 % failure rate over the last 50 calls (20
#: at least), probe after 5 s, then 10, 20 ... up to 5 minutes on repeated trips, one
#: probe at a time: a provider that fails that often is down rather than unlucky, one that
#: fails a third of its calls keeps serving the other two thirds, and a short first open
#: period costs a briefly failing provider seconds, not minutes. ``docs/reliability.md``
#: has the measurements behind the numbers. The router uses ``RouterOptions.breaker``
#: where this default would apply.
DEFAULT_BREAKER_POLICY = BreakerPolicy()


class DefaultBreakerPolicy:
    """The built-in policy; any plugin implementing the hook runs before it."""

    @hookimpl(trylast=True)
    def claudette_breaker_policy(self, backend: BaseBackend) -> BreakerPolicy:
        """:data:`DEFAULT_BREAKER_POLICY` for every backend."""
        return DEFAULT_BREAKER_POLICY
