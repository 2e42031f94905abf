"""Load through the gateway: 5,000 requests at 100 in flight, a quarter streamed, ~30 % of
provider calls failing.

Every request must end, within its bound, in a full answer or a well-formed OpenAI error
(a JSON error with its status, or an ``error`` event closing a stream that had begun); and
after the run the gateway's memory and file descriptors must be back near their baseline.
The breakers keep their default policy. ``$CLAUDETTE_GATEWAY_LOAD_REQUESTS`` scales the run.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from _gateway import claude_backend, openai_backend
from claudette.testing import faults
from claudette_backend_claude.testing import AnthropicEmulator, AnthropicFault
from claudette_backend_openai.testing import ChatFault, OpenAIEmulator

REQUESTS = int(os.environ.get("CLAUDETTE_GATEWAY_LOAD_REQUESTS", "5000"))
CONCURRENCY = 100
WARMUP = 400
SEED = 20261203
#: Seconds any one request may take before it counts as hung.
BOUND = 60.0
ERROR_STATUSES = {429, 502, 503, 504}


def _openai_faults() -> list[Any]:
    return [
        ChatFault.server_error(),
        ChatFault.overloaded(),
        ChatFault.rate_limit(retry_after=0.2),
        faults.reset(),
        faults.truncated_json(),
        ChatFault.stream_cut(2),
        ChatFault.error_event(after_chunks=2),
    ]


def _claude_faults() -> list[Any]:
    return [
        AnthropicFault.api_error(),
        AnthropicFault.overloaded(),
        AnthropicFault.rate_limit(retry_after=0.2),
        faults.reset(),
        faults.truncated_json(),
        faults.cut_after(3),
        AnthropicFault.stream_error(after_events=3),
    ]


def _plan(rng: random.Random, make: Any, count: int) -> list[Any]:
    """``count`` outcomes, 30 % faults of every kind, never two faults in a row (a run of
    five would open a default breaker for five minutes and end the test's variety)."""
    plan: list[Any] = []
    for _ in range(count):
        fault = plan and plan[-1] is None and rng.random() < 0.43
        plan.append(rng.choice(make()) if fault else None)
    return plan


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _rss_mib(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _check_error(response: httpx.Response) -> str:
    assert response.status_code in ERROR_STATUSES, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if response.status_code == 429:
        assert int(response.headers["retry-after"]) >= 1
    return f"error {response.status_code}"


def _check_stream(lines: list[str], expected: set[str]) -> str:
    events = [line[6:] for line in lines if line.startswith("data: ")]
    assert events, lines
    if events[-1] == "[DONE]":
        chunks = [json.loads(e) for e in events[:-1]]
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        assert text in expected, text
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
        return "answer"
    last = json.loads(events[-1])
    assert set(last["error"]) == {"message", "type", "param", "code"}, last
    for event in events[:-1]:
        assert "choices" in json.loads(event)
    return "stream error"


async def _one(client: httpx.AsyncClient, i: int, stream: bool) -> str:
    words = f"load request number {i}"
    expected = {f"Echo: {words}", "Hello from Claude"}
    body = {"model": "auto", "messages": [{"role": "user", "content": words}], "stream": stream}
    async with asyncio.timeout(BOUND):
        if not stream:
            response = await client.post("/v1/chat/completions", json=body)
            if response.status_code != 200:
                return _check_error(response)
            answer = response.json()
            assert answer["choices"][0]["message"]["content"] in expected
            assert answer["usage"]["completion_tokens"] > 0
            assert response.headers["x-claudette-backend"] in ("openai-a", "openai-b", "claude")
            return "answer"
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            if response.status_code != 200:
                await response.aread()
                return _check_error(response)
            return _check_stream([line async for line in response.aiter_lines()], expected)


async def _run(url: str, count: int, first: int) -> Counter[str]:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    outcomes: Counter[str] = Counter()
    queue = iter(range(first, first + count))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=BOUND) as client:

        async def lane() -> None:
            for i in queue:
                outcomes[await _one(client, i, stream=i % 4 == 0)] += 1

        await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
    return outcomes


@pytest.fixture
def emulators():
    with OpenAIEmulator() as a, OpenAIEmulator() as b, AnthropicEmulator(reply="Hello from Claude") as c:
        yield a, b, c


def test_every_request_under_load_and_faults_ends_well_formed_and_resources_come_back(
    start_gateway, emulators
):
    a, b, c = emulators
    gateway = start_gateway(
        {
            "backends.openai-a": {**openai_backend(a.base_url), "api_key": "sk-load-a-000000"},
            "backends.openai-b": {**openai_backend(b.base_url), "api_key": "sk-load-b-000000"},
            "backends.claude": {**claude_backend(c.url), "api_key": "sk-ant-emulator-key"},
        }
    )
    (worker,) = gateway.worker_pids()
    warm = asyncio.run(_run(gateway.url, WARMUP, 0))
    assert warm == Counter(answer=WARMUP)
    time.sleep(1.0)
    fds_before, rss_before = _fds(worker), _rss_mib(worker)

    rng = random.Random(SEED)
    for emulator, make in ((a, _openai_faults), (b, _openai_faults), (c, _claude_faults)):
        emulator.script(*_plan(rng, make, REQUESTS * 2))
    started = time.monotonic()
    outcomes = asyncio.run(_run(gateway.url, REQUESTS, WARMUP))
    elapsed = time.monotonic() - started
    # The providers' idle pooled connections stay open until their keep-alive expires
    # (5 s), then close: a leak is what is still open well after that.
    settle_by = time.monotonic() + 20.0
    time.sleep(2.0)
    while (fds_after := _fds(worker)) > fds_before + 10 and time.monotonic() < settle_by:
        time.sleep(0.5)
    rss_after = _rss_mib(worker)

    print(f"\n{REQUESTS} requests in {elapsed:.1f} s: {dict(outcomes)}; "
          f"fds {fds_before} -> {fds_after}; RSS {rss_before:.1f} -> {rss_after:.1f} MiB")
    assert sum(outcomes.values()) == REQUESTS
    assert outcomes["answer"] >= 0.8 * REQUESTS, outcomes
    assert fds_after <= fds_before + 10, (fds_before, fds_after)
    assert rss_after <= rss_before + 40, (rss_before, rss_after)
    assert gateway.stop() == 0
