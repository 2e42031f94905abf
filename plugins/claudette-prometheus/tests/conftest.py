"""Shared fixtures: a registry of the test's own, Ollama emulators and routers over them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from claudette import BackendRouter, BackendSettings
from claudette.testing.ordering import ByPriority
from claudette.testing.pytest_plugin import build_router
from claudette_backend_ollama import OllamaBackend
from claudette_backend_ollama.testing import OllamaEmulator
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from claudette_prometheus import ClaudetteMetrics


@pytest.fixture
def metrics() -> ClaudetteMetrics:
    """The plugin, on a registry of the test's own."""
    return ClaudetteMetrics(CollectorRegistry())


@pytest.fixture
def first() -> Iterator[OllamaEmulator]:
    """An emulator answering "Hello there" (2 tokens) to 11 prompt tokens."""
    with OllamaEmulator(prompt_tokens=11) as emulator:
        yield emulator


@pytest.fixture
def second() -> Iterator[OllamaEmulator]:
    """Another, answering "From the second one" (4 tokens) to 7 prompt tokens."""
    with OllamaEmulator(prompt_tokens=7, reply="From the second one") as emulator:
        yield emulator


MakeRouter = Callable[..., BackendRouter]


@pytest.fixture
async def make_router(
    first: OllamaEmulator, second: OllamaEmulator, metrics: ClaudetteMetrics
) -> AsyncIterator[MakeRouter]:
    """Routers over ``a`` (``first``, tried first) and ``b`` (``second``), 1e-6 EUR a token."""
    made: list[BackendRouter] = []

    def make(*plugins: Any, observer: Any = metrics) -> BackendRouter:
        backends = [
            OllamaBackend(
                name,
                BackendSettings(
                    base_url=emulator.url, model="qwen2.5:7b", priority=priority, cost_per_token=1e-6
                ),
            )
            for name, emulator, priority in (("a", first, 1), ("b", second, 2))
        ]
        router = build_router(*backends, plugins=[observer, ByPriority(), *plugins])
        made.append(router)
        return router

    yield make
    for router in made:
        await router.aclose()


def scrape(metrics: ClaudetteMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the exposition, parsed back: (name, labels) -> value."""
    text = metrics.exposition().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def labels(**values: str) -> frozenset[tuple[str, str]]:
    """A label set, to look a sample up in :func:`scrape`'s result."""
    return frozenset(values.items())
