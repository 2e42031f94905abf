"""The measurements. ``run.py`` runs each in a fresh interpreter, so that one never warms or
slows another:

    python bench/measure.py KIND '{"arg": value, ...}'    # prints one JSON object

KIND is ``paired`` (clients in turn, one request in flight), ``load`` (one client, many in
flight), ``select`` (``select_backend`` with N backends), ``memory`` or ``patterns``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from contenders import CONTENDERS, PROMPT


async def _timed(client: Any, stream: bool) -> float:
    """One request's milliseconds: to the first text chunk of a stream, else to the answer."""
    t0 = time.perf_counter()
    if stream:
        first, _ = await client.stream()
        return (first - t0) * 1000.0
    await client.send()
    return (time.perf_counter() - t0) * 1000.0


def paired(
    base: str, names: list[str], requests: int, stream: bool, warmup: int = 20
) -> dict[str, Any]:
    """The clients ``names`` in one process, one request each in turn (one in flight), the
    order rotating each round: both see the same machine at the same moment, so the
    difference of their medians is what one adds over the other."""

    async def go() -> dict[str, list[float]]:
        clients = [CONTENDERS[name](base) for name in names]
        out: dict[str, list[float]] = {c.name: [] for c in clients}
        try:
            for i in range(warmup + requests):
                if i == warmup:
                    gc.collect()
                k = i % len(clients)
                for client in clients[k:] + clients[:k]:
                    ms = await _timed(client, stream)
                    if i >= warmup:
                        out[client.name].append(ms)
        finally:
            for client in clients:
                await client.aclose()
        return out

    return {"latency_ms": asyncio.run(go())}


def load(
    json_base: str, sse_base: str, name: str, concurrency: int, requests: int
) -> dict[str, Any]:
    """Client ``name`` with ``concurrency`` requests in flight, non-streamed then streamed:
    per mode every request's latency (to the end of the answer), the wall time and this
    process's CPU time."""

    async def one_mode(stream: bool) -> dict[str, Any]:
        client = CONTENDERS[name](sse_base if stream else json_base)
        latencies: list[float] = []

        async def user(count: int) -> None:
            for _ in range(count):
                t0 = time.perf_counter()
                await (client.stream() if stream else client.send())
                latencies.append((time.perf_counter() - t0) * 1000.0)

        try:
            await asyncio.gather(*(user(1) for _ in range(concurrency)))  # open the connections
            latencies.clear()
            gc.collect()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await asyncio.gather(*(user(requests // concurrency) for _ in range(concurrency)))
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        finally:
            await client.aclose()
        return {"latency_ms": latencies, "wall_s": wall, "cpu_s": cpu, "requests": len(latencies)}

    async def go() -> dict[str, Any]:
        return {"send": await one_mode(False), "stream": await one_mode(True)}

    return asyncio.run(go())


def fake_plugin() -> Any:
    """A plugin registering ``fake``: a backend answering in-process after one loop turn
    (or, while its class's ``gate`` is set, when the gate opens): the router's own work
    with no HTTP."""
    from claudette import (
        BackendSettings,
        BaseBackend,
        ClaudetteRequest,
        ClaudetteResponse,
        hookimpl,
    )

    class FakeBackend(BaseBackend):
        gate: asyncio.Event | None = None

        async def send(self, request: ClaudetteRequest) -> ClaudetteResponse:
            gate = type(self).gate
            await (gate.wait() if gate is not None else asyncio.sleep(0))
            return self.create_success_response("Hello there", 9, 2, 0.01, request=request)

    class FakePlugin:
        @hookimpl
        def claudette_register_backends(self, registry: Any) -> None:
            registry.register("fake", FakeBackend, defaults=BackendSettings(model="fake-1"))

    return FakePlugin()


def fake_router(
    backends: int,
    options: Any = None,
    settings: Any = None,
    plugins: tuple[Any, ...] = (),
    store: Any = None,
) -> Any:
    """A router over ``backends`` fake backends of different prices and priorities."""
    from claudette import BackendRouter, BackendSettings, ClaudettePlugins, RouterOptions

    pm = ClaudettePlugins(autoload=False, plugins=[fake_plugin(), *plugins])
    router = BackendRouter(options or RouterOptions(health_checks=False), plugins=pm, store=store)
    for i in range(backends):
        own = BackendSettings(
            cost_per_token=1e-6 * (1 + i % 7), priority=i % 3, region="eu" if i % 2 else "us"
        )
        merged = (settings or BackendSettings()).with_defaults(own)
        router.register_backend(pm.registry.create("fake", merged, instance_name=f"b{i:03d}"))
    return router


def select(backends: int, decisions: int) -> dict[str, Any]:
    """Microseconds per ``select_backend`` decision among ``backends`` backends (CPU time,
    median of 5 batches, after 200 routed requests have given them some history)."""
    from claudette import ClaudetteRequest

    router = fake_router(backends)
    request = ClaudetteRequest(prompt=PROMPT)

    async def go() -> list[float]:
        for _ in range(200):
            await router.route_request(request)
        batches = []
        for _ in range(5):
            c0 = time.process_time()
            for _ in range(max(1, decisions // 5)):
                await router.select_backend(request)
            batches.append((time.process_time() - c0) / max(1, decisions // 5) * 1e6)
        await router.aclose()
        return batches

    return {"us_per_decision": statistics.median(asyncio.run(go()))}


def _peak_rss_kib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform == "darwin" else float(peak)  # bytes on macOS, KiB elsewhere


def memory(requests: int, in_flight: int = 64) -> dict[str, Any]:
    """KiB a router with one ``openai`` backend (and its client) takes, KiB each request in
    flight holds, and the peak RSS growth from 1,000 to ``requests`` routed requests."""
    from claudette import ClaudetteRequest
    from contenders import Claudette

    def build() -> Any:
        client = Claudette("http://127.0.0.1:9/v1")
        _ = client.router.get_backend("openai").client  # built on first use: build it now
        return client

    async def go() -> dict[str, Any]:
        await build().aclose()  # shared state (imports, the TLS context) is not per router
        tracemalloc.start()
        built = build()
        router_kib = tracemalloc.get_traced_memory()[0] / 1024
        tracemalloc.stop()
        await built.aclose()

        router = fake_router(2)
        plugin_class = type(router.get_backend("b000"))
        for _ in range(200):
            await router.route_request(ClaudetteRequest(prompt=PROMPT))
        plugin_class.gate = asyncio.Event()
        gc.collect()
        tracemalloc.start()
        tasks = [
            asyncio.ensure_future(router.route_request(ClaudetteRequest(prompt=f"{PROMPT} #{i}")))
            for i in range(in_flight)
        ]
        await asyncio.sleep(0.05)
        held = tracemalloc.get_traced_memory()[0] / 1024 / in_flight
        tracemalloc.stop()
        plugin_class.gate.set()
        await asyncio.gather(*tasks)
        plugin_class.gate = None

        marks = []
        for start, stop in ((0, 1000), (1000, requests)):
            for i in range(start, stop):
                await router.route_request(ClaudetteRequest(prompt=f"{PROMPT} #{i}"))
            gc.collect()
            marks.append(_peak_rss_kib())
        await router.aclose()
        return {
            "router_kib": router_kib,
            "in_flight_kib": held,
            "rss_growth_kib": marks[1] - marks[0],
            "requests": requests,
        }

    return asyncio.run(go())


IMPORTS = ("import claudette", "import httpx", "from litellm import Router")


def imports(repeats: int) -> dict[str, float | None]:
    """Milliseconds of each import in a fresh interpreter (median of ``repeats``; None when
    it fails), the cases interleaved after one unrecorded round that warms the file cache."""
    probe = "import time; t = time.perf_counter(); {}; print(time.perf_counter() - t)"
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")

    def once(stmt: str) -> float | None:
        p = subprocess.run(
            [sys.executable, "-c", probe.format(stmt)], capture_output=True, text=True, env=env
        )
        return float(p.stdout.split()[-1]) * 1000.0 if p.returncode == 0 else None

    samples: dict[str, list[float]] = {stmt: [] for stmt in IMPORTS if once(stmt) is not None}
    for _ in range(repeats):
        for stmt, values in samples.items():
            if (ms := once(stmt)) is not None:
                values.append(ms)
    return {
        stmt: statistics.median(samples[stmt]) if samples.get(stmt) else None for stmt in IMPORTS
    }


def _patterns(requests: int, repeats: int, redis_url: str | None) -> dict[str, Any]:
    import patterns

    return patterns.measure(requests, repeats, redis_url)


KINDS: dict[str, Any] = dict(
    paired=paired, load=load, select=select, memory=memory, patterns=_patterns
)

if __name__ == "__main__":
    print(json.dumps(KINDS[sys.argv[1]](**json.loads(sys.argv[2]))))
