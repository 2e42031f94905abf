"""A claudette breaker-policy plugin: a stricter circuit breaker for paid cloud backends.

A cloud backend's breaker opens after :data:`STRICT_POLICY`'s 2 consecutive failures
(instead of 5) and probes again after 30 s (instead of 5 minutes): a failing paid API is
left sooner and retried sooner. Self-hosted backends get no answer from this plugin
(``None``), so the next implementation decides — the built-in default, unless another
installed plugin answers.

Installing the package is all it takes: its ``claudette.backends`` entry point
``breaker-strict`` names this module, whose ``claudette_breaker_policy`` runs before the
built-in default (which is ``trylast``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from claudette import BreakerPolicy, hookimpl

if TYPE_CHECKING:
    from claudette import BaseBackend

__all__ = ["STRICT_POLICY", "claudette_breaker_policy"]

#: The policy of every cloud backend.
STRICT_POLICY = BreakerPolicy(failure_threshold=2, reset_timeout=30.0, half_open_max_calls=1)


@hookimpl
def claudette_breaker_policy(backend: BaseBackend) -> BreakerPolicy | None:
    """:data:`STRICT_POLICY` for a cloud backend (the default type); None otherwise."""
    if (backend.settings.backend_type or "cloud") == "cloud":
        return STRICT_POLICY
    return None
