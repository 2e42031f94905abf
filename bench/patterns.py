"""What each routing pattern (docs/patterns.md), and the shared Redis store, adds per request.

Every configuration routes requests through two in-process fake backends (no HTTP), so
the figure is the router's own CPU per request, next to the plain router measured in the
same process, the configurations interleaved. The Redis row needs ``$CLAUDETTE_REDIS_URL``
or a ``redis-server`` binary (a private one is started on a free loopback port). The rows
of the observability plugins need them installed (``nox -s bench`` does): claudette-otel
on the OpenTelemetry SDK recording every span (no exporter: that cost is the exporter's),
claudette-prometheus on a registry of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import os
import shutil
import socket
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import attrs
from claudette import BackendSettings, ClaudetteRequest, RouterOptions, hookimpl
from claudette.types import BudgetOptions, CacheOptions
from measure import fake_router


class _Identity:
    """A pre-processing hook that leaves the request as it is: the hook call's own cost."""

    @hookimpl
    def claudette_preprocess_request(self, request: Any, backend: Any) -> Any:
        return None


def _unique(i: int) -> ClaudetteRequest:
    return ClaudetteRequest(prompt=f"Say hello in two words, number {i}.")


_SAME = ClaudetteRequest(prompt="Say hello in two words.")


def _tracing() -> Any:
    """claudette-otel on an SDK tracer provider that records every span and exports none."""
    from claudette_otel import ClaudetteTracing
    from opentelemetry.sdk.trace import TracerProvider

    return ClaudetteTracing(TracerProvider())


def _metrics() -> Any:
    """claudette-prometheus on a registry of its own."""
    from claudette_prometheus import ClaudetteMetrics
    from prometheus_client import CollectorRegistry

    return ClaudetteMetrics(CollectorRegistry())


def _installed(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


def configurations(
    redis_url: str | None,
) -> dict[str, Callable[[], tuple[Any, Callable[[int], ClaudetteRequest]]]]:
    """Name → a function building (router, the request for index i)."""
    base = RouterOptions(health_checks=False)

    def opts(**changes: Any) -> RouterOptions:
        return attrs.evolve(base, **changes)

    configs: dict[str, Callable[[], tuple[Any, Callable[[int], ClaudetteRequest]]]] = {
        "plain router": lambda: (fake_router(2, base), _unique),
        "rate limits (rpm, tpm)": lambda: (
            fake_router(2, base, BackendSettings(rpm=10**9, tpm=10**12)),
            _unique,
        ),
        "budget (EUR per day)": lambda: (
            fake_router(2, opts(budget=BudgetOptions(limit_eur=10**9))),
            _unique,
        ),
        "cache, every request a miss": lambda: (
            fake_router(2, opts(cache=CacheOptions())),
            _unique,
        ),
        "cache, every request a hit": lambda: (
            fake_router(2, opts(cache=CacheOptions())),
            lambda i: _SAME,
        ),
        "least_requests strategy": lambda: (
            fake_router(2, opts(strategy="least_requests")),
            _unique,
        ),
        "weighted_random strategy": lambda: (
            fake_router(2, opts(strategy="weighted_random")),
            _unique,
        ),
        "preferred region": lambda: (fake_router(2, opts(region="eu")), _unique),
        "retries allowed (none needed)": lambda: (
            fake_router(2, base, BackendSettings(max_retries=2)),
            _unique,
        ),
        "a pre-processing hook": lambda: (fake_router(2, base, plugins=(_Identity(),)), _unique),
    }
    if _installed("claudette_otel", "opentelemetry.sdk"):
        configs["claudette-otel (spans recorded)"] = lambda: (
            fake_router(2, base, plugins=(_tracing(),)),
            _unique,
        )
    if _installed("claudette_prometheus"):
        configs["claudette-prometheus"] = lambda: (
            fake_router(2, base, plugins=(_metrics(),)),
            _unique,
        )
    if redis_url:
        from claudette.redis_store import RedisStateStore

        def with_redis() -> tuple[Any, Callable[[int], ClaudetteRequest]]:
            store = RedisStateStore(redis_url, namespace=f"bench{os.getpid()}{time.monotonic_ns()}")
            return fake_router(2, base, store=store), _unique

        configs["Redis state store"] = with_redis
    return configs


@contextlib.contextmanager
def redis_server() -> Iterator[tuple[str | None, str]]:
    """A Redis URL (or None) and how it was found: ``$CLAUDETTE_REDIS_URL``, else a private
    ``redis-server`` on loopback, stopped on exit."""
    if url := os.environ.get("CLAUDETTE_REDIS_URL"):
        yield url, "$CLAUDETTE_REDIS_URL"
        return
    binary = shutil.which("redis-server")
    if binary is None:
        yield None, "no redis-server: row skipped"
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.1):
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0", "a private redis-server on loopback"
    finally:
        proc.terminate()
        proc.wait(10)


def measure(requests: int, repeats: int, redis_url: str | None) -> dict[str, Any]:
    """Per configuration: the median CPU µs per routed request over ``repeats`` and what it
    adds to the plain router's."""

    async def cpu_per_request(router: Any, make: Callable[[int], ClaudetteRequest]) -> float:
        for i in range(min(500, requests)):
            await router.route_request(make(i))
        gc.collect()
        c0 = time.process_time()
        for i in range(requests):
            await router.route_request(make(i))
        return (time.process_time() - c0) / requests * 1e6

    async def go() -> dict[str, list[float]]:
        built = {name: make() for name, make in configurations(redis_url).items()}
        samples: dict[str, list[float]] = {name: [] for name in built}
        for _ in range(repeats):
            for name, (router, make) in built.items():
                samples[name].append(await cpu_per_request(router, make))
        for router, _ in built.values():
            await router.aclose()
        return samples

    samples = asyncio.run(go())
    plain = statistics.median(samples["plain router"])
    return {
        name: {"cpu_us": statistics.median(v), "added_us": statistics.median(v) - plain}
        for name, v in samples.items()
    }
