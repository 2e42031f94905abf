"""One router process for the multi-process tests: a BackendRouter on a RedisStateStore.

Run as ``python _worker.py '<json config>'``; it prints ``{"ready": true}`` and then
answers one JSON command per stdin line with one JSON line on stdout:

- ``{"cmd": "send", "n": 5, "concurrency": 1}`` → ``{"answers": [backend or "ERROR:..."]}``
- ``{"cmd": "send_for", "seconds": 2, "concurrency": 4}`` → ``{"sent": n, "answers": [...]}``
- ``{"cmd": "status"}`` → ``{"breakers": {...}, "connected": bool}``
- ``{"cmd": "reserve", "name": "rpm", "n": 30, "limit": 50}`` → ``{"granted": k}``
- ``{"cmd": "quit"}``

Warnings go to stderr, so the parent can count them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _fakes import HTTPBackend, PolicyPlugin, settings
from claudette import BackendRouter, BreakerPolicy, ClaudetteRequest, RouterOptions
from claudette.plugins import ClaudettePlugins
from claudette.redis_store import RedisStateStore


async def _one(router: BackendRouter, i: int) -> str:
    try:
        response = await router.route_request(ClaudetteRequest(prompt=f"q{i}"))
    except Exception as exc:
        return f"ERROR:{type(exc).__name__}:{exc}"
    return response.backend_used


async def _send(router: BackendRouter, n: int, concurrency: int) -> list[str]:
    answers: list[str] = []
    for start in range(0, n, concurrency):
        batch = range(start, min(n, start + concurrency))
        answers.extend(await asyncio.gather(*(_one(router, i) for i in batch)))
    return answers


async def _send_for(router: BackendRouter, seconds: float, concurrency: int) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    answers: list[str] = []
    sent = 0

    async def lane() -> None:
        nonlocal sent
        while time.monotonic() < deadline:
            sent += 1
            answers.append(await _one(router, sent))
            await asyncio.sleep(0.005)

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return {"sent": sent, "answers": answers}


async def main(config: dict[str, Any]) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(message)s")
    store = RedisStateStore(
        config["redis_url"],
        namespace=config["namespace"],
        refresh_interval=config.get("refresh_interval", 0.1),
        timeout=config.get("timeout", 0.25),
    )
    policy = BreakerPolicy(failure_threshold=config["threshold"], reset_timeout=config["reset_timeout"])
    router = BackendRouter(
        RouterOptions(health_checks=False, max_cooldown_wait=0.0),
        plugins=ClaudettePlugins(autoload=False, plugins=[PolicyPlugin(policy)]),
        store=store,
    )
    for b in config["backends"]:
        backend = HTTPBackend(b["name"], settings(b["url"], b["cost"], rpm=b.get("rpm")))
        backend.client  # noqa: B018 - build the HTTP client now: it blocks the loop a while
        router.register_backend(backend)
    await store.start()
    loop = asyncio.get_running_loop()
    print(json.dumps({"ready": True}), flush=True)
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        cmd = json.loads(line)
        kind = cmd["cmd"]
        if kind == "quit":
            break
        if kind == "send":
            out: dict[str, Any] = {"answers": await _send(router, cmd["n"], cmd.get("concurrency", 1))}
        elif kind == "send_for":
            out = await _send_for(router, cmd["seconds"], cmd.get("concurrency", 1))
        elif kind == "status":
            out = {"breakers": router.breaker_status(), "connected": store.connected}
        elif kind == "reserve":
            granted = 0
            for _ in range(cmd["n"]):
                granted += bool(await store.reserve(cmd["name"], 1, cmd["limit"], cmd.get("window", 60.0)))
            out = {"granted": granted}
        else:
            out = {"error": f"unknown command {kind!r}"}
        print(json.dumps(out), flush=True)
    await router.aclose()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
