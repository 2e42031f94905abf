"""Small backends and plugins for the shared-state tests (in-process and over HTTP)."""

from __future__ import annotations

from typing import Any

from claudette import (
    BackendError,
    BackendSettings,
    BaseBackend,
    BreakerPolicy,
    ClaudetteRequest,
    ClaudetteResponse,
    hookimpl,
)
from claudette.http import error_from_exception, error_from_status

__all__ = ["HTTPBackend", "PolicyPlugin", "ScriptedBackend"]


class PolicyPlugin:
    """A plugin giving every backend the same breaker policy."""

    def __init__(self, policy: BreakerPolicy) -> None:
        self.policy = policy

    @hookimpl
    def claudette_breaker_policy(self, backend: BaseBackend) -> BreakerPolicy:
        """Every backend gets ``self.policy``."""
        return self.policy


class ScriptedBackend(BaseBackend):
    """Answers its name, or fails with a retryable 503 while ``failing`` is set."""

    def __init__(self, name: str, cost: float, *, failing: bool = False) -> None:
        super().__init__(name, BackendSettings(cost_per_token=cost, model="m"))
        self.failing = failing
        self.calls = 0

    async def send(self, request: ClaudetteRequest) -> ClaudetteResponse:
        """Answer or fail, counting the call."""
        self.calls += 1
        if self.failing:
            raise BackendError("upstream unavailable", self.name, True, 503)
        return self.create_success_response(self.name, 1, 1, 1.0, request=request)


class HTTPBackend(BaseBackend):
    """POSTs the prompt to ``<base_url>/answer``; a 2xx body is the answer text."""

    requires_base_url = True

    async def send(self, request: ClaudetteRequest) -> ClaudetteResponse:
        """One HTTP call to the loopback provider."""
        try:
            reply = await self.client.post("/answer", json={"prompt": request.prompt})
        except Exception as exc:
            raise error_from_exception(self.name, exc) from exc
        if reply.status_code >= 400:
            raise error_from_status(self.name, reply.status_code, reply.text, headers=reply.headers)
        return self.create_success_response(reply.text, 1, 1, reply.elapsed.total_seconds() * 1000, request=request)


def settings(base_url: str, cost: float, **extra: Any) -> BackendSettings:
    """Settings of an :class:`HTTPBackend` on a loopback server."""
    return BackendSettings(base_url=base_url, cost_per_token=cost, model="m", timeout=10.0, **extra)
