"""Shared fixtures: an in-memory span exporter, Ollama emulators and routers over them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from claudette import BackendRouter, BackendSettings
from claudette.testing.ordering import ByPriority
from claudette.testing.pytest_plugin import build_router
from claudette_backend_ollama import OllamaBackend
from claudette_backend_ollama.testing import OllamaEmulator
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from claudette_otel import ClaudetteTracing

#: The secret given to every backend: it must never appear in a span.
SECRET = "sk-otel-test-0123456789abcdef"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    """Where the spans of the test's tracer provider end up."""
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    """A tracer provider that exports every ended span to ``exporter`` at once."""
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield tracer_provider
    tracer_provider.shutdown()


@pytest.fixture
def tracing(provider: TracerProvider) -> ClaudetteTracing:
    """The plugin, on the test's provider."""
    return ClaudetteTracing(provider)


@pytest.fixture
def first() -> Iterator[OllamaEmulator]:
    """An emulator answering "Hello there" with 11 prompt tokens."""
    with OllamaEmulator(prompt_tokens=11) as emulator:
        yield emulator


@pytest.fixture
def second() -> Iterator[OllamaEmulator]:
    """Another emulator, answering "From the second one" with 7 prompt tokens."""
    with OllamaEmulator(prompt_tokens=7, reply="From the second one") as emulator:
        yield emulator


MakeRouter = Callable[..., BackendRouter]


@pytest.fixture
async def make_router(
    first: OllamaEmulator, second: OllamaEmulator, tracing: ClaudetteTracing
) -> AsyncIterator[MakeRouter]:
    """Routers over ``a`` (``first``, tried first) and ``b`` (``second``), traced by
    ``tracing`` or the ``tracer`` given."""
    made: list[BackendRouter] = []

    def make(*plugins: Any, tracer: ClaudetteTracing | None = None) -> BackendRouter:
        backends = [
            OllamaBackend(
                name,
                BackendSettings(
                    base_url=emulator.url, model="qwen2.5:7b", priority=priority,
                    cost_per_token=1e-6, api_key=SECRET,
                ),
            )
            for name, emulator, priority in (("a", first, 1), ("b", second, 2))
        ]
        router = build_router(*backends, plugins=[tracer or tracing, ByPriority(), *plugins])
        made.append(router)
        return router

    yield make
    for router in made:
        await router.aclose()


def spans_by_name(exporter: InMemorySpanExporter) -> dict[str, list[ReadableSpan]]:
    """The finished spans, grouped by name, in the order they ended."""
    out: dict[str, list[ReadableSpan]] = {}
    for span in exporter.get_finished_spans():
        out.setdefault(span.name, []).append(span)
    return out
