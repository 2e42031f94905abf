"""Shared fakes for the advanced-pattern tests (no tests here)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from claudette import (
    BackendRouter,
    BackendSettings,
    BaseBackend,
    ClaudettePlugins,
    ClaudetteRequest,
    ClaudetteResponse,
    RouterOptions,
    TokenPrices,
)


class FakeBackend(BaseBackend):
    """A backend that answers ``"<name>: <last message>"`` after ``delay`` seconds.

    :param failures: errors raised by the first calls, in order (then it answers).
    :param usage: the (input, output) tokens it reports.
    """

    def __init__(
        self,
        name: str,
        settings: BackendSettings | None = None,
        *,
        delay: float = 0.0,
        failures: Iterable[BaseException] = (),
        usage: tuple[int, int] = (10, 5),
        **settings_kw: Any,
    ) -> None:
        super().__init__(name, settings or BackendSettings(model="m", **settings_kw))
        self.delay = delay
        self.failures = list(failures)
        self.usage = usage
        self.calls = 0
        self.requests: list[ClaudetteRequest] = []
        self.active = 0
        self.max_active = 0

    def default_prices(self) -> TokenPrices | None:
        """Free unless priced in its settings, as a self-hosted plugin's backend is."""
        return TokenPrices.free()

    async def send(self, request: ClaudetteRequest) -> ClaudetteResponse:
        self.calls += 1
        self.requests.append(request)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.failures:
                raise self.failures.pop(0)
            text = request.all_messages[-1].content
            return self.create_success_response(
                f"{self.name}: {text}", self.usage[0], self.usage[1], 1.0, request=request
            )
        finally:
            self.active -= 1


def make_router(
    *backends: BaseBackend,
    plugins: Iterable[Any] = (),
    options: RouterOptions | None = None,
    **option_kw: Any,
) -> BackendRouter:
    """A router with no entry-point plugins and no background health checks."""
    opts = options or RouterOptions(health_checks=False, **option_kw)
    router = BackendRouter(opts, plugins=ClaudettePlugins(autoload=False, plugins=list(plugins)))
    for backend in backends:
        router.register_backend(backend)
    return router


def req(prompt: str = "hello", **kw: Any) -> ClaudetteRequest:
    """A request with ``prompt``."""
    return ClaudetteRequest(prompt=prompt, **kw)


async def gather(fn: Callable[[int], Any], n: int) -> list[Any]:
    """Run ``fn(i)`` for i in range(n) concurrently; exceptions are returned, not raised."""
    return await asyncio.gather(*(fn(i) for i in range(n)), return_exceptions=True)
