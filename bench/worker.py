"""One contender in its own process: run load scenarios, write latencies and CPU to JSON.

    python bench/worker.py SPEC.json OUT.json

SPEC: ``{"contender": "raw", "json_base": URL, "sse_base": URL,
"scenarios": [{"mode": "send"|"stream", "concurrency": 16, "requests": 800, "warmup": 64}]}``.
Each scenario is warmed up first (connections opened), then ``requests`` calls run with
``concurrency`` in flight; per call the wall time (or time to first chunk and to last) is
kept, and for the whole scenario the wall time and this process's CPU time.
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

from contenders import make_contender


async def _load(call: Any, requests: int, concurrency: int, stream: bool) -> dict[str, Any]:
    lat: list[float] = []
    ttfc: list[float] = []
    left = requests

    async def user() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            t0 = time.perf_counter()
            if stream:
                first, last = await call()
                ttfc.append((first - t0) * 1000.0)
                lat.append((last - t0) * 1000.0)
            else:
                await call()
                lat.append((time.perf_counter() - t0) * 1000.0)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(user() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    out: dict[str, Any] = {"latency_ms": lat, "wall_s": wall, "cpu_s": cpu, "requests": requests}
    if stream:
        out["ttfc_ms"] = ttfc
    return out


async def run(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Run every scenario of ``spec`` for its contender."""
    results: list[dict[str, Any]] = []
    clients: dict[str, Any] = {}
    try:
        for sc in spec["scenarios"]:
            stream = sc["mode"] == "stream"
            base = spec["sse_base"] if stream else spec["json_base"]
            if base not in clients:
                clients[base] = make_contender(spec["contender"], base)
            client = clients[base]
            call = client.stream if stream else client.send
            await _load(call, sc["warmup"], sc["concurrency"], stream)
            gc.collect()
            r = await _load(call, sc["requests"], sc["concurrency"], stream)
            results.append({**sc, **r})
    finally:
        for client in clients.values():
            await client.aclose()
    return results


def main() -> None:
    """Read the spec, run, write the results."""
    spec = json.loads(Path(sys.argv[1]).read_text())
    results = asyncio.run(run(spec))
    Path(sys.argv[2]).write_text(json.dumps({"contender": spec["contender"], "scenarios": results}))


if __name__ == "__main__":
    main()
