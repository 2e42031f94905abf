"""Shared helpers for the core tests: a scriptable in-process backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from claudette import (
    BackendError,
    BackendRouter,
    BackendSettings,
    BaseBackend,
    ClaudetteRequest,
    ClaudetteResponse,
    RouterOptions,
    StreamChunk,
    TokenPrices,
)
from claudette.plugins import ClaudettePlugins


class FakeBackend(BaseBackend):
    """A backend answering from a script: each call takes the next outcome.

    An outcome is a text to answer, a BackendError to raise, or ``None`` for "answer
    with the backend's name". When the script runs out the backend answers its name.
    """

    def __init__(
        self,
        name: str,
        settings: BackendSettings | None = None,
        *,
        client: Any = None,
        script: list[Any] | None = None,
        delay: float = 0.0,
        healthy: bool = True,
        chunks: int = 3,
    ) -> None:
        super().__init__(name, settings or BackendSettings(model="fake-1"), client=client)
        self.script = list(script or [])
        self.delay = delay
        self.calls = 0
        self.health_calls = 0
        self.is_healthy = healthy
        self.chunk_count = chunks

    def default_prices(self) -> TokenPrices | None:
        """Free unless priced in its settings, as a self-hosted plugin's backend is."""
        return TokenPrices.free()

    def _next(self) -> Any:
        self.calls += 1
        return self.script.pop(0) if self.script else None

    async def send(self, request: ClaudetteRequest) -> ClaudetteResponse:
        outcome = self._next()
        if self.delay:
            await asyncio.sleep(self.delay)
        if isinstance(outcome, BaseException):
            raise outcome
        text = outcome if isinstance(outcome, str) else f"answer from {self.name}"
        return self.create_success_response(text, 10, 5, self.delay * 1000, request=request)

    async def stream(self, request: ClaudetteRequest) -> AsyncIterator[StreamChunk]:
        outcome = self._next()
        if isinstance(outcome, BaseException) and not getattr(outcome, "mid_stream", False):
            raise outcome
        text = f"answer from {self.name}"
        step = -(-len(text) // self.chunk_count)
        words = [text[i : i + step] for i in range(0, len(text), step)]
        for i, piece in enumerate(words):
            if self.delay:
                await asyncio.sleep(self.delay)
            if isinstance(outcome, BaseException) and i == 1:
                raise outcome
            yield StreamChunk(piece, self.name)
        yield StreamChunk("", self.name, self.create_success_response("".join(words), 10, 5, 1.0, request=request))

    async def health_check(self) -> bool:
        self.health_calls += 1
        await asyncio.sleep(0.01)
        return self.is_healthy


def make_router(*backends: BaseBackend, plugins: list[Any] | None = None, **options: Any) -> BackendRouter:
    """A router with only these backends and no entry-point plugins."""
    options.setdefault("health_checks", False)
    pm = ClaudettePlugins(autoload=False, plugins=plugins or [])
    router = BackendRouter(RouterOptions(**options), plugins=pm)
    for b in backends:
        router.register_backend(b)
    return router


def settings(**kw: Any) -> BackendSettings:
    """BackendSettings with a model set (validation requires one)."""
    kw.setdefault("model", "fake-1")
    return BackendSettings(**kw)


def unavailable(name: str, **kw: Any) -> BackendError:
    from claudette import BackendUnavailableError

    return BackendUnavailableError("server error", name, True, kw.pop("status", 500), **kw)


#: Environment variables that name a proxy (httpx and urllib read both cases).
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def clear_proxy_environment(monkeypatch: Any) -> None:
    """Remove every proxy variable for one test: a backend's client routes through a
    proxy the environment names, and a test's server is on loopback."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


class PlainBackend(BaseBackend):
    """A backend for tests of its HTTP client alone: it never sends a request itself."""

    async def send(self, request: ClaudetteRequest) -> ClaudetteResponse:
        raise NotImplementedError("a PlainBackend only lends its client")
