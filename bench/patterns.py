"""What each routing pattern, and the shared Redis store, costs per request.

    python bench/patterns.py [--requests N] [--repeats R] [--out DIR]

Every configuration routes the same requests through one in-process fake backend (no
HTTP), so the figure is the router's own CPU per request; each is reported next to the
plain router (no pattern) measured in the same process, interleaved, as the median of
the repeats with the spread. The Redis rows need a ``redis-server`` binary (a private one
is started on a free loopback port) or ``$CLAUDETTE_REDIS_URL``; without either they are
marked as skipped. Writes ``patterns.json`` and ``patterns.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from micro import _fake_plugin  # noqa: E402  (the same fake backend as the other benches)

from claudette import (  # noqa: E402
    BackendRouter,
    BackendSettings,
    ClaudettePlugins,
    ClaudetteRequest,
    RouterOptions,
    hookimpl,
)
from claudette.types import BudgetOptions, CacheOptions  # noqa: E402


class _Identity:
    """A pre-processing hook that returns the request unchanged (the hook's own cost)."""

    @hookimpl
    def claudette_preprocess_request(self, request: Any, backend: Any) -> Any:
        return None


Setup = Callable[[], tuple[BackendRouter, Callable[[int], ClaudetteRequest]]]


def _router(
    options: RouterOptions,
    settings: BackendSettings | None = None,
    *,
    backends: int = 2,
    extra_plugins: tuple[Any, ...] = (),
    store: Any = None,
) -> BackendRouter:
    plugin = _fake_plugin()
    pm = ClaudettePlugins(autoload=False, plugins=[plugin, *extra_plugins])
    router = BackendRouter(options, plugins=pm, store=store)
    for i in range(backends):
        base = settings or BackendSettings()
        router.register_backend(
            pm.registry.create(
                "fake",
                base.with_defaults(BackendSettings(cost_per_token=1e-6 * (i + 1), region="eu" if i else "us")),
                instance_name=f"b{i}",
            )
        )
    return router


def _unique(i: int) -> ClaudetteRequest:
    return ClaudetteRequest(prompt=f"Say hello in two words, number {i}.")


_SAME = ClaudetteRequest(prompt="Say hello in two words.")


def _same(i: int) -> ClaudetteRequest:
    return _SAME


BASE = RouterOptions(health_checks=False)


def configurations(redis_url: str | None) -> dict[str, Callable[[], tuple[BackendRouter, Callable[[int], ClaudetteRequest]]]]:
    """Name → a function building (router, request-for-index)."""
    import attrs

    configs: dict[str, Any] = {
        "plain router": lambda: (_router(BASE), _unique),
        "rate limits (rpm, tpm)": lambda: (
            _router(BASE, BackendSettings(rpm=10**9, tpm=10**12)),
            _unique,
        ),
        "budget (EUR per day)": lambda: (
            _router(attrs.evolve(BASE, budget=BudgetOptions(limit_eur=10**9))),
            _unique,
        ),
        "cache, every request a miss": lambda: (
            _router(attrs.evolve(BASE, cache=CacheOptions(max_entries=1024))),
            _unique,
        ),
        "cache, every request a hit": lambda: (
            _router(attrs.evolve(BASE, cache=CacheOptions(max_entries=1024))),
            _same,
        ),
        "least_requests strategy": lambda: (
            _router(attrs.evolve(BASE, strategy="least_requests")),
            _unique,
        ),
        "weighted_random strategy": lambda: (
            _router(attrs.evolve(BASE, strategy="weighted_random")),
            _unique,
        ),
        "preferred region": lambda: (_router(attrs.evolve(BASE, region="eu")), _unique),
        "retries allowed (none needed)": lambda: (
            _router(BASE, BackendSettings(max_retries=2)),
            _unique,
        ),
        "a pre-processing hook": lambda: (_router(BASE, extra_plugins=(_Identity(),)), _unique),
    }
    if redis_url:
        from claudette.redis_store import RedisStateStore

        def with_redis() -> tuple[BackendRouter, Callable[[int], ClaudetteRequest]]:
            ns = f"bench{os.getpid()}{time.monotonic_ns()}"
            store = RedisStateStore(redis_url, namespace=ns)
            return _router(BASE, store=store), _unique

        configs["Redis state store"] = with_redis
    return configs


async def _measure(router: BackendRouter, make: Callable[[int], ClaudetteRequest], n: int) -> float:
    """CPU µs per routed request."""
    route = router.route_request
    for i in range(min(500, n)):
        await route(make(i))
    gc.collect()
    c0 = time.process_time()
    for i in range(n):
        await route(make(i))
    return (time.process_time() - c0) / n * 1e6


async def run(requests: int, repeats: int, redis_url: str | None) -> dict[str, Any]:
    """Interleave every configuration with the plain router, ``repeats`` times."""
    configs = configurations(redis_url)
    built = {name: make() for name, make in configs.items()}
    samples: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(repeats):
        for name, (router, make) in built.items():
            samples[name].append(await _measure(router, make, requests))
    for router, _ in built.values():
        await router.aclose()
    plain = statistics.median(samples["plain router"])
    out: dict[str, Any] = {}
    for name, values in samples.items():
        median = statistics.median(values)
        out[name] = {
            "cpu_us": median,
            "min": min(values),
            "max": max(values),
            "added_us": median - plain,
        }
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_redis() -> tuple[str | None, subprocess.Popen[bytes] | None, str]:
    url = os.environ.get("CLAUDETTE_REDIS_URL")
    if url:
        return url, None, "$CLAUDETTE_REDIS_URL"
    binary = shutil.which("redis-server")
    if binary is None:
        return None, None, "no redis-server binary: Redis row skipped"
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return f"redis://127.0.0.1:{port}/0", proc, "a private redis-server on loopback"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    return None, None, "redis-server did not start: Redis row skipped"


def markdown(results: dict[str, Any], meta: dict[str, Any]) -> str:
    """The Markdown table of the results."""
    lines = [
        f"Router CPU per request with one pattern on, through an in-process fake backend "
        f"(no HTTP): median of {meta['repeats']} runs of {meta['requests']:,} requests, "
        f"(min–max). {meta['machine']}. Redis: {meta['redis']}.",
        "",
        "| configuration | CPU µs per request | added vs plain router |",
        "|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['cpu_us']:.1f} ({r['min']:.1f}–{r['max']:.1f}) | {r['added_us']:+.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "bench-results")
    args = parser.parse_args(argv)
    url, proc, how = _start_redis()
    try:
        results = asyncio.run(run(args.requests, args.repeats, url))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
    meta = {
        "requests": args.requests,
        "repeats": args.repeats,
        "redis": how,
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, load {os.getloadavg()[0]:.2f}",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "patterns.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    table = markdown(results, meta)
    (args.out / "patterns.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
