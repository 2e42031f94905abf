"""The Ollama and Anthropic wire formats, through the project's own emulators.

The emulators are Python (``claudette_backend_ollama.testing``, ``claudette_backend_claude
.testing``), so absolute latencies measure them more than the client; the figure that
matters is claudette's added time over a raw httpx client doing the same call. Each
emulator runs in its own process (``python bench/formats.py serve FORMAT``) so that its
thread never competes with the client for the GIL; the client process alternates raw and
claudette requests (``python bench/formats.py client FORMAT URL N MODE``).
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from stats import spread, summarize_latencies

__all__ = ["FORMATS", "run_formats"]

PROMPT = "Say hello in two words."
ANTHROPIC_KEY = "sk-ant-bench-key"
#: format -> (emulator module, plugin module, model)
FORMATS: dict[str, tuple[str, str, str]] = {
    "ollama": ("claudette_backend_ollama.testing", "claudette_backend_ollama.plugin", "qwen2.5:7b"),
    "anthropic": ("claudette_backend_claude.testing", "claudette_backend_claude.plugin", "claude-haiku-4-5"),
}


def serve(fmt: str) -> None:
    """Start the emulator of ``fmt``, print its URL, and serve until stdin closes."""
    if fmt == "ollama":
        from claudette_backend_ollama.testing import OllamaEmulator

        emulator: Any = OllamaEmulator(models=[FORMATS[fmt][2]], reply="Hello there")
    else:
        from claudette_backend_claude.testing import AnthropicEmulator

        emulator = AnthropicEmulator(api_key=ANTHROPIC_KEY, reply="Hello there")
    with emulator:
        print(emulator.url, flush=True)
        sys.stdin.read()


class _Raw:
    """The same call with a bare httpx client."""

    def __init__(self, fmt: str, url: str) -> None:
        import httpx

        self.fmt = fmt
        self.client = httpx.AsyncClient(
            base_url=url,
            timeout=httpx.Timeout(60.0, connect=10.0),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )
        model = FORMATS[fmt][2]
        msgs = [{"role": "user", "content": PROMPT}]
        if fmt == "ollama":
            self.path, self.headers = "/api/chat", {}
            self.body = {"model": model, "messages": msgs, "stream": False}
        else:
            self.path = "/v1/messages"
            self.headers = {"x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01"}
            self.body = {"model": model, "messages": msgs, "max_tokens": 256}
        # Parsed once, as claudette's backends do (see contenders.RawHttpx).
        self.url = httpx.URL(url.rstrip("/") + self.path)

    async def send(self) -> None:
        r = await self.client.post(self.url, json=self.body, headers=self.headers)
        if r.status_code != 200:
            raise RuntimeError(f"{self.fmt} emulator answered {r.status_code}: {r.text[:200]}")
        json.loads(r.content)

    async def first_chunk(self) -> float:
        first = 0.0
        body = {**self.body, "stream": True}
        async with self.client.stream("POST", self.url, json=body, headers=self.headers) as r:
            if r.status_code != 200:
                raise RuntimeError(f"{self.fmt} emulator answered {r.status_code}")
            async for line in r.aiter_lines():
                if self.fmt == "ollama":
                    if line.strip():
                        event = json.loads(line)
                        if (event.get("message") or {}).get("content") and not first:
                            first = time.perf_counter()
                elif line.startswith("data:"):
                    event = json.loads(line[5:])
                    if event.get("type") == "content_block_delta" and not first:
                        first = time.perf_counter()
        return first

    async def aclose(self) -> None:
        await self.client.aclose()


class _Claudette:
    """claudette's router with the format's plugin."""

    def __init__(self, fmt: str, url: str) -> None:
        import importlib

        from claudette import BackendRouter, BackendSettings, ClaudettePlugins, RouterOptions

        _, plugin_module, model = FORMATS[fmt]
        plugin = importlib.import_module(plugin_module)
        pm = ClaudettePlugins(autoload=False, plugins=[plugin])
        self.router = BackendRouter(RouterOptions(health_checks=False), plugins=pm)
        key = ANTHROPIC_KEY if fmt == "anthropic" else None
        name = "claude" if fmt == "anthropic" else "ollama"
        self.router.register_backend(
            pm.registry.create(name, BackendSettings(base_url=url, api_key=key, model=model))
        )

    async def send(self) -> None:
        from claudette import ClaudetteRequest

        await self.router.route_request(ClaudetteRequest(prompt=PROMPT))

    async def first_chunk(self) -> float:
        from claudette import ClaudetteRequest

        first = 0.0
        async for chunk in self.router.stream(ClaudetteRequest(prompt=PROMPT, stream=True)):
            if chunk.text and not first:
                first = time.perf_counter()
        return first

    async def aclose(self) -> None:
        await self.router.aclose()


def client(fmt: str, url: str, requests: int, mode: str) -> dict[str, Any]:
    """Alternate raw and claudette requests (1 in flight); latencies in ms."""

    async def go() -> dict[str, Any]:
        raw, cl = _Raw(fmt, url), _Claudette(fmt, url)
        out: dict[str, list[float]] = {"raw": [], "claudette": []}
        pairs = ((raw, out["raw"]), (cl, out["claudette"]))
        try:
            for i in range(requests + 20):
                for c, lat in pairs if i % 2 == 0 else pairs[::-1]:
                    t0 = time.perf_counter()
                    if mode == "stream":
                        first = await c.first_chunk()
                        ms = (first - t0) * 1000.0
                    else:
                        await c.send()
                        ms = (time.perf_counter() - t0) * 1000.0
                    if i >= 20:
                        lat.append(ms)
                if i == 19:
                    gc.collect()
        finally:
            await raw.aclose()
            await cl.aclose()
        return out

    return asyncio.run(go())


def _importable(fmt: str) -> str | None:
    p = subprocess.run(
        [sys.executable, "-c", f"import {FORMATS[fmt][0]}, {FORMATS[fmt][1]}"], capture_output=True, text=True
    )
    if p.returncode != 0:
        return (p.stderr.strip().splitlines() or ["import failed"])[-1]
    return None


def run_formats(prof: dict[str, Any]) -> dict[str, Any]:
    """Each format's added time (claudette − raw, p50), or why it was skipped."""
    out: dict[str, Any] = {}
    here = Path(__file__).parent
    for fmt in FORMATS:
        why = _importable(fmt)
        if why:
            out[fmt] = {"skipped": f"{FORMATS[fmt][0]} not importable: {why}"}
            continue
        server = subprocess.Popen(
            [sys.executable, str(here / "formats.py"), "serve", fmt],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            res: dict[str, Any] = {"upstream": f"{FORMATS[fmt][0]} emulator (Python, own process)"}
            for mode in ("send", "stream"):
                raws, cls, diffs = [], [], []
                for _ in range(prof["repeats"]):
                    p = subprocess.run(
                        [sys.executable, str(here / "formats.py"), "client", fmt, url, str(prof["paired"] // 2), mode],
                        capture_output=True, text=True,
                    )
                    if p.returncode != 0:
                        res[mode] = {"error": p.stderr.strip()[-1500:]}
                        break
                    lat = json.loads(p.stdout)
                    r50, c50 = summarize_latencies(lat["raw"])["p50"], summarize_latencies(lat["claudette"])["p50"]
                    raws.append(r50)
                    cls.append(c50)
                    diffs.append((c50 - r50) * 1000.0)
                else:
                    res[mode] = {
                        "raw_p50_ms": spread(raws),
                        "claudette_p50_ms": spread(cls),
                        "added_p50_us": spread(diffs),
                    }
            out[fmt] = res
        finally:
            if server.stdin:
                server.stdin.close()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return out


def main() -> None:
    """``serve FORMAT`` or ``client FORMAT URL N MODE``."""
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        print(json.dumps(client(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])))


if __name__ == "__main__":
    main()
