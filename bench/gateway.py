"""``nox -s bench-gateway``: claudette serve against the upstream alone and LiteLLM's proxy.

Three contenders on the same loopback upstream (nginx serving recorded OpenAI bodies, as
``nox -s bench`` uses): ``direct`` (the client calls the upstream itself), ``claudette``
(``claudette serve``, one worker) and ``litellm`` (``litellm --config``, its proxy, one
worker: with ``--num_workers 2`` its uvicorn workers die at start-up here), plus
``forwarder (no routing)`` (``bench/forwarder.py``: the same server passing each body to
the upstream through one aiohttp session, the floor under any gateway on this stack),
``claudette (httpx)``, the gateway with ``[server] http_client = "httpx"``, to show what its
default (aiohttp's pool under the backends) buys, and ``claudette (2 workers)``, one worker
per core, to show how it scales when a deployment gives it the machine. The load comes from an
``aiohttp.ClientSession`` in this process: a client cheap enough per request that the
contenders, not the client, set the numbers (an ``httpx.AsyncClient`` at 64 connections
spends more CPU per request than nginx and the cheaper gateway together). Client,
upstream and gateway share the machine's cores.

For each gateway: the latency it adds at one request in flight (its requests alternate with
direct ones, so both see the same machine), then throughput and p99 at 64 in flight, not
streamed and streamed, with the gateway's CPU time per request and its memory (RSS of the
server and its workers). The table and a plot go to docs/gateway.md.

    python bench/gateway.py [--quick] [--no-litellm]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx

sys.path.insert(0, str(Path(__file__).parent))

from machine import cpu_name
from upstream import start_upstream

ROOT = Path(__file__).parent.parent
DOC = ROOT / "docs" / "gateway.md"
PLOT = ROOT / "docs" / "img" / "gateway-bench.png"
BEGIN, END = "<!-- bench-gateway:begin -->", "<!-- bench-gateway:end -->"
KEY = "sk-bench-gateway-0123456789abcdef"  # the upstream ignores it; both gateways require it
PROMPT = [{"role": "user", "content": "Say hello in two words."}]
_TIMEOUT = aiohttp.ClientTimeout(total=60.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                todo.extend(int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split())
        except OSError:
            pass
    return out


def _cpu_s(pid: int) -> float:
    total = 0.0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _rss_mib(pid: int) -> float:
    total = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


class Target:
    """Where a contender's client sends its requests."""

    def __init__(
        self, name: str, base: str, json_model: str, sse_model: str, pid: int | None, sse_base: str | None = None
    ) -> None:
        self.name = name
        self.base = base
        self.sse_base = sse_base or base
        self.json_model = json_model
        self.sse_model = sse_model
        self.pid = pid


def _wait_http(url: str, proc: subprocess.Popen[bytes], seconds: float = 300.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds:.0f} s")


@contextmanager
def _process(cmd: list[str], ready_url: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    log = tempfile.NamedTemporaryFile(prefix="bench-gateway-", suffix=".log", delete=False)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, start_new_session=True)
    try:
        _wait_http(ready_url, proc)
        yield proc
    except BaseException:
        print(Path(log.name).read_text()[-3000:], file=sys.stderr)
        raise
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        os.unlink(log.name)


@contextmanager
def claudette(
    json_base: str, sse_base: str, http_client: str | None = None, workers: int = 1
) -> Iterator[Target]:
    """``claudette serve`` with ``workers`` workers; ``http_client`` None leaves the gateway's
    default."""
    folder = Path(tempfile.mkdtemp(prefix="bench-claudette-"))
    config = folder / "claudette.toml"
    choice = f'http_client = "{http_client}"\n' if http_client else ""
    config.write_text(
        f'[server]\napi_keys = ["{KEY}"]\nworkers = {workers}\n{choice}\n'
        + "".join(
            f'[backends.{name}]\nplugin = "openai"\nbase_url = "{base}"\napi_key = "{KEY}"\n'
            f'model = "gpt-4o-mini"\n\n'
            for name, base in (("json", json_base), ("sse", sse_base))
        )
    )
    port = _free_port()
    cmd = [sys.executable, "-m", "claudette", "serve", "-c", str(config), "--port", str(port)]
    with _process(cmd, f"http://127.0.0.1:{port}/health") as proc:
        name = "claudette" + "".join(
            f" ({part})" for part in (http_client, f"{workers} workers" if workers > 1 else None) if part
        )
        yield Target(name, f"http://127.0.0.1:{port}/v1", "json", "sse", proc.pid)
    shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def forwarder(json_base: str, sse_base: str) -> Iterator[Target]:
    """``bench/forwarder.py`` on uvicorn with ``claudette serve``'s server settings: the
    floor, what a gateway costs before doing any work of its own."""
    from claudette.gateway.serve import KEEP_ALIVE_SECONDS

    port = _free_port()
    cmd = [
        sys.executable, "-m", "uvicorn", "--app-dir", str(Path(__file__).parent), "--factory",
        "forwarder:app", "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop",
        "--http", "httptools", "--ws", "none", "--lifespan", "on", "--log-level", "warning",
        "--no-access-log", "--no-proxy-headers", "--no-server-header",
        "--timeout-keep-alive", str(KEEP_ALIVE_SECONDS),
    ]
    env = {"FORWARD_JSON_BASE": json_base, "FORWARD_SSE_BASE": sse_base, "FORWARD_KEY": KEY}
    with _process(cmd, f"http://127.0.0.1:{port}/health", env) as proc:
        root = f"http://127.0.0.1:{port}"
        yield Target("forwarder (no routing)", f"{root}/v1", "gpt-4o-mini", "gpt-4o-mini", proc.pid, f"{root}/sse/v1")


@contextmanager
def litellm(json_base: str, sse_base: str) -> Iterator[Target]:
    folder = Path(tempfile.mkdtemp(prefix="bench-litellm-"))
    config = folder / "config.yaml"
    config.write_text(
        "model_list:\n"
        + "".join(
            f"  - model_name: {name}\n    litellm_params:\n      model: openai/gpt-4o-mini\n"
            f"      api_base: {base}\n      api_key: {KEY}\n"
            for name, base in (("json", json_base), ("sse", sse_base))
        )
    )
    port = _free_port()
    binary = shutil.which("litellm", path=str(Path(sys.executable).parent)) or "litellm"
    cmd = [
        binary, "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
    ]
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR", "LITELLM_MASTER_KEY": KEY}
    with _process(cmd, f"http://127.0.0.1:{port}/health/liveliness", env) as proc:
        yield Target("litellm", f"http://127.0.0.1:{port}/v1", "json", "sse", proc.pid)
    shutil.rmtree(folder, ignore_errors=True)


async def _call(client: aiohttp.ClientSession, base: str, model: str, stream: bool) -> float:
    """One request, the whole answer read; milliseconds. An error status raises."""
    body: dict[str, Any] = {"model": model, "messages": PROMPT}
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    t0 = time.perf_counter()
    async with client.post(f"{base}/chat/completions", json=body) as response:
        response.raise_for_status()
        if stream:
            async for _ in response.content:  # line by line, as a client reads SSE
                pass
        else:
            await response.json()
    return (time.perf_counter() - t0) * 1000.0


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def added_latency(direct: Target, target: Target, requests: int) -> dict[str, float]:
    """p50/p99 of the target and of direct calls, alternating, one in flight."""
    headers = {"authorization": f"Bearer {KEY}"}
    mine: list[float] = []
    theirs: list[float] = []
    async with aiohttp.ClientSession(headers=headers, timeout=_TIMEOUT) as client:
        for i in range(requests + 20):
            a = await _call(client, direct.base, direct.json_model, False)
            b = await _call(client, target.base, target.json_model, False)
            if i >= 20:
                theirs.append(a)
                mine.append(b)
    return {
        "p50_added_ms": statistics.median(mine) - statistics.median(theirs),
        "p99_added_ms": _pct(mine, 0.99) - _pct(theirs, 0.99),
    }


async def load(target: Target, stream: bool, requests: int, in_flight: int = 64) -> dict[str, float]:
    """Throughput and p99 of the answered requests with ``in_flight`` at once, the requests
    that failed (an error status or a dropped connection), the server's CPU per request."""
    latencies: list[float] = []
    model = target.sse_model if stream else target.json_model
    base = target.sse_base if stream else target.base
    async with aiohttp.ClientSession(
        headers={"authorization": f"Bearer {KEY}"},
        connector=aiohttp.TCPConnector(limit=in_flight),
        timeout=_TIMEOUT,
    ) as client:

        failed = 0

        async def user(count: int) -> None:
            nonlocal failed
            for _ in range(count):
                try:
                    latencies.append(await _call(client, base, model, stream))
                except (aiohttp.ClientError, asyncio.TimeoutError):  # an error status, a dropped connection
                    failed += 1

        await asyncio.gather(*(user(2) for _ in range(in_flight)))  # connections open, warm
        latencies.clear()
        failed = 0
        cpu0 = _cpu_s(target.pid) if target.pid else 0.0
        t0 = time.perf_counter()
        await asyncio.gather(*(user(requests // in_flight) for _ in range(in_flight)))
        wall = time.perf_counter() - t0
        cpu = (_cpu_s(target.pid) - cpu0) if target.pid else float("nan")
    return {
        "failed": failed,
        "rps": len(latencies) / wall,  # answered requests only
        "p99_ms": _pct(latencies, 0.99),
        "cpu_ms_per_request": cpu / len(latencies) * 1000.0 if target.pid and latencies else float("nan"),
        "rss_mib": _rss_mib(target.pid) if target.pid else float("nan"),
    }


def measure(target: Target, direct: Target, quick: bool) -> dict[str, Any]:
    one = 100 if quick else 500
    many = 640 if quick else 3200
    print(f"bench-gateway: {target.name} ...", file=sys.stderr, flush=True)
    result: dict[str, Any] = {"name": target.name}
    if target is not direct:
        result.update(asyncio.run(added_latency(direct, target, one)))
    result["send"] = asyncio.run(load(target, False, many))
    result["stream"] = asyncio.run(load(target, True, many))
    return result


def _fmt(value: float, digits: int = 1) -> str:
    if value != value:  # NaN
        return "-"
    return f"{value:,.{digits}f}"


def table(results: list[dict[str, Any]]) -> str:
    rows = [
        "| contender | added p50, 1 in flight | added p99, 1 in flight | req/s at 64 | p99 at 64 | "
        "streamed req/s at 64 | streamed p99 at 64 | failed at 64 | gateway CPU per request | gateway RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        added = (
            ("-", "-")
            if "p50_added_ms" not in r
            else (f"{_fmt(r['p50_added_ms'], 2)} ms", f"{_fmt(r['p99_added_ms'], 2)} ms")
        )
        s, t = r["send"], r["stream"]
        rows.append(
            f"| {r['name']} | {added[0]} | {added[1]} | {_fmt(s['rps'], 0)} | {_fmt(s['p99_ms'])} ms | "
            f"{_fmt(t['rps'], 0)} | {_fmt(t['p99_ms'])} ms | {s.get('failed', 0) + t.get('failed', 0)} | "
            f"{_fmt(s['cpu_ms_per_request'], 2)} ms | "
            f"{_fmt(s['rss_mib'], 0)} MiB |"
        )
    return "\n".join(rows)


def plot(results: list[dict[str, Any]]) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = [r["name"] for r in results]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for ax, key, title in ((axes[0], "rps", "requests/s at 64 in flight"), (axes[1], "p99_ms", "p99 ms at 64 in flight")):
        x = range(len(names))
        ax.bar([i - 0.2 for i in x], [r["send"][key] for r in results], 0.4, label="JSON")
        ax.bar([i + 0.2 for i in x], [r["stream"][key] for r in results], 0.4, label="streamed")
        ax.set_xticks(list(x), [n.replace(" (", "\n(") for n in names], fontsize=7.5)
        ax.set_title(title)
        ax.legend()
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT, dpi=100)
    return True


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for dist in ("claudette-core", "uvicorn", "httpx", "aiohttp", "litellm"):
        try:
            parts.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            pass
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    parser.add_argument("--no-litellm", action="store_true", help="leave LiteLLM's proxy out")
    parser.add_argument("--no-write", action="store_true", help="print the table, leave docs/ alone")
    args = parser.parse_args(argv)
    load_avg = os.getloadavg()[0]
    started = time.monotonic()
    results = []
    with start_upstream() as upstream:
        direct = Target(
            "direct (upstream alone)", upstream.json_base, "gpt-4o-mini", "gpt-4o-mini", None, upstream.sse_base
        )
        results.append(measure(direct, direct, args.quick))
        with forwarder(upstream.json_base, upstream.sse_base) as target:
            results.append(measure(target, direct, args.quick))
        for http_client, workers in ((None, 1), ("httpx", 1), (None, 2)):
            with claudette(upstream.json_base, upstream.sse_base, http_client, workers) as target:
                results.append(measure(target, direct, args.quick))
        if not args.no_litellm:
            try:
                with litellm(upstream.json_base, upstream.sse_base) as target:
                    results.append(measure(target, direct, args.quick))
            except (RuntimeError, FileNotFoundError) as exc:
                print(f"bench-gateway: LiteLLM's proxy left out: {exc}", file=sys.stderr)
        label = upstream.label
    text = table(results)
    print(text)
    if args.no_write:
        return 0
    has_plot = plot(results)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    section = "\n".join(
        [
            BEGIN,
            f"**Run**: `nox -s bench-gateway{' -- --quick' if args.quick else ''}` "
            f"({time.monotonic() - started:.0f} s) on {now}, commit `{commit or '?'}`; "
            f"{os.cpu_count()} cores ({cpu_name()}), CPython {platform.python_version()}, load average {load_avg:.2f} at start; "
            f"upstream: {label}; {_versions()}.",
            "",
            text,
            "",
            *(["![throughput and p99 at 64 in flight](img/gateway-bench.png)", ""] if has_plot else []),
            END,
        ]
    )
    doc = DOC.read_text()
    doc = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: section, doc, flags=re.S)
    DOC.write_text(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
