"""In-process measurements, each run in a fresh subprocess by ``run.py``:

    python bench/micro.py select N_BACKENDS DECISIONS     -> µs per select_backend decision
    python bench/micro.py memory REQUESTS                 -> RSS after 1,000 and after REQUESTS
    python bench/micro.py inflight CONCURRENCY            -> bytes held per in-flight request
    python bench/micro.py paired BASE_URL REQUESTS        -> raw, claudette, floor, in turn
    python bench/micro.py pairedcpu ROUNDS PER_ROUND MODE -> CPU per request at 64 in flight, in turn
    python bench/micro.py plugins                         -> modules loaded by import claudette
    python bench/micro.py overhead REQUESTS               -> CPU µs the router adds (no HTTP)
    python bench/micro.py calibrate                       -> seconds for a fixed pure-Python loop

Each prints one JSON object on stdout.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))


def _fake_plugin() -> Any:
    """A plugin object registering ``fake``: a backend that answers in-process."""
    from claudette import (
        BackendSettings,
        BaseBackend,
        ClaudetteRequest,
        ClaudetteResponse,
        hookimpl,
    )

    class FakeBackend(BaseBackend):
        """Answers after one loop turn, no I/O; ``gate`` (an Event) may hold every call."""

        gate: asyncio.Event | None = None

        async def send(self, request: ClaudetteRequest) -> ClaudetteResponse:
            gate = type(self).gate
            if gate is not None:
                await gate.wait()
            else:
                await asyncio.sleep(0)  # a real backend always yields to the loop
            return self.create_success_response("Hello there", 9, 2, 0.01, request=request)

    class FakePlugin:
        """Registers ``fake``."""

        @hookimpl
        def claudette_register_backends(self, registry: Any) -> None:
            registry.register("fake", FakeBackend, defaults=BackendSettings(model="fake-1"))

    plugin = FakePlugin()
    plugin.FakeBackend = FakeBackend  # type: ignore[attr-defined]
    return plugin


def _router(n: int, cls_holder: list[Any] | None = None) -> Any:
    from claudette import BackendRouter, BackendSettings, ClaudettePlugins, RouterOptions

    plugin = _fake_plugin()
    if cls_holder is not None:
        cls_holder.append(plugin.FakeBackend)
    pm = ClaudettePlugins(autoload=False, plugins=[plugin])
    router = BackendRouter(RouterOptions(health_checks=False), plugins=pm)
    for i in range(n):
        router.register_backend(
            pm.registry.create(
                "fake",
                BackendSettings(cost_per_token=1e-6 * (1 + i % 7), priority=i % 3),
                instance_name=f"b{i:03d}",
            )
        )
    return router


def bench_select(n: int, decisions: int) -> dict[str, Any]:
    """µs per ``select_backend`` decision with ``n`` backends (after a warm-up)."""
    from claudette import ClaudetteRequest

    router = _router(n)
    request = ClaudetteRequest(prompt="Say hello in two words.")

    async def go() -> dict[str, Any]:
        # Give every backend some latency history, like a router that has been serving.
        for i, b in enumerate(router.backends.values()):
            for _ in range(20):
                b.stats.record_success(5.0 + i)
        select = router.select_backend
        for _ in range(min(1000, decisions)):
            await select(request)
        gc.collect()
        gc.disable()
        samples, cpu = [], []
        per = max(1, decisions // 10)
        for _ in range(10):
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(per):
                await select(request)
            samples.append((time.perf_counter() - t0) / per * 1e6)
            cpu.append((time.process_time() - c0) / per * 1e6)
        gc.enable()
        chosen = (await select(request)).name
        return {"backends": n, "us_per_decision": samples, "cpu_us_per_decision": cpu, "chosen": chosen}

    return asyncio.run(go())


def bench_overhead(requests: int) -> dict[str, Any]:
    """CPU µs per request of the router alone: ``route_request`` vs calling the backend.

    Both build the ``ClaudetteRequest`` and await one in-process fake backend (no HTTP), so
    the difference is what routing adds: selection, breaker, timeout, stats, counters.
    """
    from claudette import ClaudetteRequest

    router = _router(1)
    backend = router.get_backend("b000")

    async def direct() -> None:
        await backend.send(ClaudetteRequest(prompt="Say hello in two words."))

    async def routed() -> None:
        await router.route_request(ClaudetteRequest(prompt="Say hello in two words."))

    async def go() -> dict[str, Any]:
        for _ in range(2000):
            await direct()
            await routed()
        out: dict[str, list[float]] = {"direct": [], "routed": []}
        per = max(1, requests // 10)
        for _ in range(10):
            for name, fn in (("direct", direct), ("routed", routed)):
                gc.collect()
                c0 = time.process_time()
                for _ in range(per):
                    await fn()
                out[name].append((time.process_time() - c0) / per * 1e6)
        import statistics

        return {
            "cpu_us_direct": statistics.median(out["direct"]),
            "cpu_us_routed": statistics.median(out["routed"]),
            "cpu_us_added": statistics.median(r - d for r, d in zip(out["routed"], out["direct"])),
        }

    return asyncio.run(go())


def _rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def bench_memory(total: int) -> dict[str, Any]:
    """RSS after 1,000 routed requests and after ``total`` (fake backend, no HTTP)."""
    from claudette import ClaudetteRequest

    router = _router(2)

    async def go() -> dict[str, Any]:
        route = router.route_request
        marks: dict[int, int] = {}
        checkpoints = sorted({1000, total // 10, total // 2, total})
        done = 0
        for mark in checkpoints:
            while done < mark:
                await route(ClaudetteRequest(prompt=f"Say hello in two words. #{done}"))
                done += 1
            gc.collect()
            marks[mark] = _rss()
        return {
            "requests": total,
            "rss_bytes": {str(k): v for k, v in marks.items()},
            "growth_bytes": marks[total] - marks[1000],
            "counters": router.stats()["router"],
        }

    return asyncio.run(go())


def bench_inflight(concurrency: int) -> dict[str, Any]:
    """Bytes allocated per request held in flight (tracemalloc) and the RSS rise, at ``concurrency``."""
    import tracemalloc

    from claudette import ClaudetteRequest

    holder: list[Any] = []
    router = _router(2, holder)
    fake = holder[0]

    async def go() -> dict[str, Any]:
        for _ in range(200):  # warm caches, pools and code paths
            await router.route_request(ClaudetteRequest(prompt="warm-up"))
        fake.gate = asyncio.Event()
        gc.collect()
        rss0 = _rss()
        tracemalloc.start()
        base, _ = tracemalloc.get_traced_memory()
        tasks = [
            asyncio.ensure_future(router.route_request(ClaudetteRequest(prompt=f"Say hello #{i}")))
            for i in range(concurrency)
        ]
        await asyncio.sleep(0.05)
        held, _ = tracemalloc.get_traced_memory()
        in_flight = sum(s["in_flight"] for s in router.stats()["backends"].values())
        rss1 = _rss()
        fake.gate.set()
        await asyncio.gather(*tasks)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return {
            "concurrency": concurrency,
            "in_flight_seen": in_flight,
            "bytes_per_in_flight": (held - base) / concurrency,
            "peak_bytes_per_request": (peak - base) / concurrency,
            "rss_rise_bytes": rss1 - rss0,
        }

    return asyncio.run(go())


async def _in_turn(
    clients: tuple[Any, ...], measure: Any, rounds: int, warm_ups: int, *, collect_each_round: bool = True
) -> dict[str, list[float]]:
    """``measure(client)`` for every client once per round, the order rotating each round
    (after ``warm_ups`` unrecorded rounds, and a garbage collection before each round, or
    only before the first when rounds are single requests); each client's results by name.
    Closes the clients at the end."""
    out: dict[str, list[float]] = {c.name: [] for c in clients}
    try:
        for _ in range(warm_ups):
            for c in clients:
                await measure(c)
        gc.collect()
        for i in range(rounds):
            if collect_each_round and i:
                gc.collect()
            k = i % len(clients)
            for c in clients[k:] + clients[:k]:
                out[c.name].append(await measure(c))
    finally:
        for c in clients:
            await c.aclose()
    return out


async def _timed(contender: Any, stream: bool) -> float:
    """One request's milliseconds: to the first chunk for a stream, else to the answer."""
    t0 = time.perf_counter()
    if stream:
        first, _ = await contender.stream()
        return (first - t0) * 1000.0
    await contender.send()
    return (time.perf_counter() - t0) * 1000.0


def bench_paired(base_url: str, requests: int, stream: bool) -> dict[str, Any]:
    """Raw httpx, claudette and the three yardsticks (the contract floor, the plugin alone,
    the httpx transport alone) in one process and loop, one request each in turn (1 in
    flight), the order rotating."""
    from contenders import Claudette, ContractFloor, PluginAlone, RawHttpx, TransportAlone

    async def go() -> dict[str, Any]:
        clients = tuple(
            cls(base_url) for cls in (RawHttpx, Claudette, ContractFloor, PluginAlone, TransportAlone)
        )

        async def timed(contender: Any) -> float:
            return await _timed(contender, stream)

        out = await _in_turn(clients, timed, requests, warm_ups=50, collect_each_round=False)
        return {"stream": stream, "latency_ms": out}

    return asyncio.run(go())


def bench_paired_concurrent(
    base_url: str, rounds: int, per_round: int, stream: bool, concurrency: int
) -> dict[str, Any]:
    """Raw httpx and claudette in one process against the same upstream, in bursts of
    ``per_round`` requests with ``concurrency`` in flight, the two in turn (the order
    alternating each round): per round, each one's p50 (of wall time, or of the time to
    the first chunk for streams).

    At 16 or 64 in flight a request's latency is mostly its wait behind the others, so
    what a client adds per request shows multiplied by about the concurrency, and two
    processes run minutes apart on a shared machine differ by more than that. Paired bursts see the
    same machine at the same moment: their difference, round by round, is what the client
    adds at that concurrency.
    """
    from contenders import Claudette, RawHttpx
    from stats import percentile

    each = max(1, per_round // concurrency)

    async def burst(contender: Any) -> float:
        latencies: list[float] = []

        async def worker() -> None:
            for _ in range(each):
                latencies.append(await _timed(contender, stream))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return percentile(latencies, 50)

    async def go() -> dict[str, Any]:
        out = await _in_turn((RawHttpx(base_url), Claudette(base_url)), burst, rounds, warm_ups=1)
        return {"stream": stream, "concurrency": concurrency, "p50_ms": out}

    return asyncio.run(go())


def _memory_transport(stream: bool) -> Any:
    """An in-memory upstream: every request answered with the recorded transcript after
    one event-loop turn (as a socket read would take), without a network or a server."""
    import httpx
    from upstream import chat_body, sse_body

    body = (sse_body() if stream else chat_body()).encode()
    headers = {
        "content-type": "text/event-stream" if stream else "application/json",
        "x-request-id": "req_bench",
    }

    class MemoryTransport(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            await request.aread()
            await asyncio.sleep(0)
            return httpx.Response(200, headers=headers, content=body)

    return MemoryTransport()


def bench_paired_cpu(rounds: int, per_round: int, stream: bool, concurrency: int = 64) -> dict[str, Any]:
    """CPU per request with ``concurrency`` in flight: raw, claudette and the three
    yardsticks (:class:`contenders.ContractFloor`, :class:`contenders.PluginAlone`,
    :class:`contenders.TransportAlone`) in one process.

    All talk to the same in-memory transport (:func:`_memory_transport`), so the process's
    CPU time is the clients' own: no upstream process competing for the cores, no sockets.
    Bursts of ``per_round`` requests, one per contender in an order rotating each round,
    each timed with ``process_time``; a contender's difference to raw in the same round is
    what it adds per request.
    """
    from contenders import Claudette, ContractFloor, PluginAlone, RawHttpx, TransportAlone

    each = max(1, per_round // concurrency)
    base = "http://upstream.invalid/v1"

    async def burst(contender: Any) -> float:
        call = contender.stream if stream else contender.send

        async def worker() -> None:
            for _ in range(each):
                await call()

        c0 = time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return (time.process_time() - c0) / (each * concurrency) * 1e6

    async def go() -> dict[str, Any]:
        transport = _memory_transport(stream)
        contenders = tuple(
            cls(base, transport)
            for cls in (RawHttpx, Claudette, ContractFloor, PluginAlone, TransportAlone)
        )
        out = await _in_turn(contenders, burst, rounds, warm_ups=3)
        return {"stream": stream, "concurrency": concurrency, "cpu_us": out}

    return asyncio.run(go())


def bench_plugins() -> dict[str, Any]:
    """Which modules ``import claudette`` and building a router with an explicit plugin load."""
    before = set(sys.modules)
    import claudette  # noqa: F401

    after_import = set(sys.modules) - before
    plugin_like = sorted(m for m in sys.modules if m.startswith("claudette_backend_"))
    heavy = sorted(m for m in ("httpx", "cattrs", "tomllib", "pluggy", "attrs", "litellm") if m in after_import)
    return {
        "plugins_loaded_by_import": plugin_like,
        "modules_added": len(after_import),
        "third_party_loaded": heavy,
    }


def calibrate() -> dict[str, Any]:
    """The speed of this machine for plain Python now: a fixed 5M-step loop (best of 3).

    Printed at the start and the end of a run, so that figures taken on a busy or slow
    machine can be read in proportion (wall well above CPU means other work competed)."""
    def loop() -> None:
        total = 0
        for i in range(5_000_000):
            total += i

    loop()
    walls, cpus = [], []
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        loop()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {"loop_wall_s": min(walls), "loop_cpu_s": min(cpus)}


def main() -> None:
    """Dispatch on the first argument and print the JSON result."""
    what = sys.argv[1]
    if what == "select":
        result = bench_select(int(sys.argv[2]), int(sys.argv[3]))
    elif what == "memory":
        result = bench_memory(int(sys.argv[2]))
    elif what == "inflight":
        result = bench_inflight(int(sys.argv[2]))
    elif what == "paired":
        result = bench_paired(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "stream")
    elif what == "pairedc":
        result = bench_paired_concurrent(
            sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "stream", int(sys.argv[6])
        )
    elif what == "pairedcpu":
        result = bench_paired_cpu(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "stream")
    elif what == "plugins":
        result = bench_plugins()
    elif what == "overhead":
        result = bench_overhead(int(sys.argv[2]))
    elif what == "calibrate":
        result = calibrate()
    else:
        raise SystemExit(f"unknown measurement {what!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
