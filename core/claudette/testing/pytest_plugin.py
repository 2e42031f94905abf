"""pytest fixtures for testing claudette backends (auto-loaded through ``pytest11``).

- ``loopback_server``: a started :class:`~claudette.testing.LoopbackServer`, stopped after.
- ``make_router``: a factory for a router that holds only the backends you give it and
  loads no installed plugin (see :func:`make_router`).

The conformance suite every backend can run is :mod:`claudette.testing.conformance`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from claudette.backend import BaseBackend
from claudette.plugins import ClaudettePlugins
from claudette.router import BackendRouter
from claudette.testing.server import LoopbackServer
from claudette.types import RouterOptions

__all__ = ["build_router", "loopback_server", "make_router"]


def build_router(
    *backends: BaseBackend,
    plugins: Iterable[Any] = (),
    options: RouterOptions | None = None,
) -> BackendRouter:
    """A router with only ``backends``, whose hooks come only from ``plugins``.

    No installed plugin is loaded (``ClaudettePlugins(autoload=False)``), so a test sees
    exactly the scoring and breaker policy it asks for: the built-in defaults plus
    ``plugins``. Background health checks are off unless ``options`` turns them on, so a
    scripted loopback server only receives the requests the test makes.
    Use it as ``async with build_router(backend) as router: ...`` to close it after.

    :param backends: the backends to register, in order.
    :param plugins: plugin objects (modules or instances) to register.
    :param options: router options; ``RouterOptions(health_checks=False)`` when omitted.
    """
    manager = ClaudettePlugins(autoload=False, plugins=plugins)
    router = BackendRouter(options or RouterOptions(health_checks=False), plugins=manager)
    for backend in backends:
        router.register_backend(backend)
    return router


@pytest.fixture
def loopback_server() -> Iterator[LoopbackServer]:
    """A loopback HTTP server with scripted replies; see :class:`LoopbackServer`."""
    with LoopbackServer() as server:
        yield server


@pytest.fixture
def make_router() -> Callable[..., BackendRouter]:
    """The :func:`build_router` factory: ``make_router(backend, plugins=[...], options=...)``.

    Close the router in the test (``async with make_router(backend) as router:``).
    """
    return build_router
