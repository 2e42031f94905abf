"""Fixtures of the chaos suite: the four provider emulators and small router helpers."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parent.parent))

from _providers import Provider, four_providers
from _support import clear_proxy_environment
from hypothesis import settings

# No example database in the checkout; the suite's own settings bound every search.
settings.register_profile("chaos", database=None, deadline=None)
settings.load_profile("chaos")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``chaos`` marker (the default ``tests`` session deselects it)."""
    config.addinivalue_line("markers", "chaos: chaos, load and bad-input tests (nox -s chaos)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this directory is a chaos test."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.chaos)


@pytest.fixture(autouse=True)
def _no_proxy_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulators are on loopback: a proxy named in the environment, which a backend's
    client honours, must not receive their requests."""
    clear_proxy_environment(monkeypatch)


@pytest.fixture
def providers() -> Iterator[dict[str, Provider]]:
    """The four emulators (openai, claude, qwen on vLLM, ollama), 5 s per-attempt timeout."""
    with four_providers(timeout=5.0, hang=5.5, retry_after=0.2) as started:
        yield started
