"""pytest fixtures for testing claudette backends (auto-loaded through ``pytest11``).

- ``loopback_server``: a started :class:`~claudette.testing.LoopbackServer`, stopped after.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from claudette.testing.server import LoopbackServer


@pytest.fixture
def loopback_server() -> Iterator[LoopbackServer]:
    """A loopback HTTP server with scripted replies; see :class:`LoopbackServer`."""
    with LoopbackServer() as server:
        yield server
