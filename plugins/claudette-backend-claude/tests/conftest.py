"""Shared fixtures: a started Anthropic emulator and a backend pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from claude_support import API_KEY

from claudette_backend_claude import ClaudeBackend
from claudette_backend_claude.testing import AnthropicEmulator

#: claudette's own fixtures (``claudette_loopback_server`` ...), opted into here.
pytest_plugins = ["claudette.testing.pytest_plugin"]


@pytest.fixture(autouse=True)
def _no_anthropic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a developer's real key or base URL out of every test."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)


@pytest.fixture
def emulator() -> Iterator[AnthropicEmulator]:
    """A started emulator that answers "Hello there" and expects :data:`API_KEY`."""
    with AnthropicEmulator(api_key=API_KEY) as api:
        yield api


@pytest.fixture
async def backend(emulator: AnthropicEmulator) -> AsyncIterator[ClaudeBackend]:
    """A ClaudeBackend named ``claude`` talking to :func:`emulator`."""
    b = ClaudeBackend("claude", emulator.settings(timeout=5.0))
    yield b
    await b.aclose()
