"""Fixtures for the OpenAI backend tests: an emulator and backends pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from claudette import BackendSettings

from claudette_backend_openai import OpenAIBackend
from claudette_backend_openai.testing import OpenAIEmulator

#: claudette's own fixtures (``claudette_loopback_server`` ...), opted into here.
pytest_plugins = ["claudette.testing.pytest_plugin"]

FIXTURES = Path(__file__).parent / "fixtures"
#: The key every test backend uses (the emulator checks it).
TEST_KEY = "sk-test-0123456789abcdef"


@pytest.fixture
def transcript() -> Callable[[str], bytes]:
    """Read a recorded provider transcript from tests/fixtures: ``transcript(name)``."""

    def read(name: str) -> bytes:
        return (FIXTURES / name).read_bytes()

    return read


@pytest.fixture
def api_key() -> str:
    """The API key the emulator expects and the test backends send."""
    return TEST_KEY


@pytest.fixture
def emulator() -> Iterator[OpenAIEmulator]:
    """A started OpenAI emulator requiring ``TEST_KEY``."""
    with OpenAIEmulator(api_key=TEST_KEY) as emu:
        yield emu


@pytest.fixture
async def make_backend() -> AsyncIterator[Callable[..., OpenAIBackend]]:
    """Build OpenAIBackends (closed after the test): ``make_backend(base_url, **settings)``."""
    made: list[OpenAIBackend] = []

    def make(base_url: str, name: str = "openai", **settings: Any) -> OpenAIBackend:
        settings.setdefault("api_key", TEST_KEY)
        settings.setdefault("timeout", 5.0)
        settings.setdefault("verify_tls", False)  # plain http on loopback: skip loading CA certs
        backend = OpenAIBackend(name, BackendSettings(base_url=base_url, **settings))
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.aclose()


@pytest.fixture
def backend(emulator: OpenAIEmulator, make_backend: Callable[..., OpenAIBackend]) -> OpenAIBackend:
    """An OpenAIBackend talking to the ``emulator``."""
    return make_backend(emulator.base_url)
