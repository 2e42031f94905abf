"""pytest fixtures for testing claudette backends; a test suite opts in from its conftest.py::

    pytest_plugins = ["claudette.testing.pytest_plugin"]

(pytest reads ``pytest_plugins`` only in the conftest.py at the top of the tests it runs.)
Installing claudette-core loads nothing into pytest by itself, so other projects' test
runs never see these fixtures; their names all start with ``claudette_``.

- ``claudette_loopback_server``: a started :class:`~claudette.testing.LoopbackServer`,
  stopped after the test.
- ``claudette_make_router``: the :func:`build_router` factory, for a router that holds only
  the backends you give it and loads no installed plugin.

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

__all__ = ["build_router", "claudette_loopback_server", "claudette_make_router"]


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
def claudette_loopback_server() -> Iterator[LoopbackServer]:
    """A loopback HTTP server with scripted replies; see :class:`LoopbackServer`."""
    with LoopbackServer() as server:
        yield server


@pytest.fixture
def claudette_make_router() -> Callable[..., BackendRouter]:
    """The :func:`build_router` factory:
    ``claudette_make_router(backend, plugins=[...], options=...)``.

    Close the router in the test (``async with claudette_make_router(backend) as router:``).
    """
    return build_router
