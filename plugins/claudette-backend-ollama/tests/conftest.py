"""Shared fixtures: an Ollama emulator per test and backends pointed at it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from claudette import BackendSettings

from claudette_backend_ollama import OllamaBackend
from claudette_backend_ollama.testing import OllamaEmulator

#: claudette's own fixtures (``claudette_loopback_server`` ...), opted into here.
pytest_plugins = ["claudette.testing.pytest_plugin"]

FIXTURES = Path(__file__).parent / "fixtures"

MakeBackend = Callable[..., OllamaBackend]


def fixture_bytes(name: str) -> bytes:
    """The bytes of a recorded transcript in ``tests/fixtures``."""
    return (FIXTURES / name).read_bytes()


def closed_port_url() -> str:
    """A loopback URL nothing listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(autouse=True)
def _no_ollama_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's own ``$OLLAMA_HOST`` unless it sets one."""
    monkeypatch.delenv("OLLAMA_HOST", raising=False)


@pytest.fixture
def emulator() -> Iterator[OllamaEmulator]:
    """An Ollama emulator serving ``qwen2.5:7b``, answering "Hello there" with 11 prompt tokens."""
    with OllamaEmulator(prompt_tokens=11) as emu:
        yield emu


@pytest.fixture
async def make_backend(emulator: OllamaEmulator) -> AsyncIterator[MakeBackend]:
    """Build OllamaBackends (default: pointed at ``emulator``); all are closed after the test."""
    made: list[OllamaBackend] = []

    def make(name: str = "ollama", **settings: Any) -> OllamaBackend:
        settings.setdefault("base_url", emulator.url)
        backend = OllamaBackend(name, BackendSettings(**settings))
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.aclose()
