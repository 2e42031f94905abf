"""The cost ledger under faults, fallbacks, cancellations and several writers.

Four providers fail a fifth of their calls (server errors, overload, resets, truncated
bodies, streams cut mid-way) from a seeded plan keyed by request, at the default breaker
policy. Two routers in this process and three more processes route requests at the same
time, all writing one ledger file; some callers cancel their request at a random moment
(before or after its answer), some stream. Afterwards the ledger holds exactly one row per
answer a caller received, and its total is the sum of the ``cost_eur`` they received.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest
from _chaos_support import fault_plan
from _providers import NAMES, Provider
from claudette import BackendRouter, ClaudetteRequest, RouterOptions
from claudette.errors import ClaudetteError
from claudette.ledger import CostLedger, read_rows
from claudette.plugins import ClaudettePlugins

SEED = 11
RATES = {
    "http_500": 0.05,
    "overloaded": 0.04,
    "reset": 0.04,
    "truncated_json": 0.04,
    "stream_cut": 0.03,
}
#: Requests each router sends (tags are disjoint between routers and processes).
PER_ROUTER = 150
PROCESSES = 3

CHILD = """
import asyncio, json, sys
from claudette import BackendRouter, BackendSettings, ClaudetteRequest, RouterOptions
from claudette.ledger import CostLedger
from claudette.plugins import ClaudettePlugins
from claudette_backend_claude import ClaudeBackend
from claudette_backend_ollama import OllamaBackend
from claudette_backend_openai import OpenAIBackend
from claudette_backend_qwen import QwenBackend

CLASSES = {"openai": OpenAIBackend, "claude": ClaudeBackend, "qwen": QwenBackend, "ollama": OllamaBackend}
spec = json.loads(sys.argv[1])

async def main():
    ledger = CostLedger(spec["ledger"])
    router = BackendRouter(
        RouterOptions(health_checks=False, max_attempts=4),
        plugins=ClaudettePlugins(autoload=False),
        ledger=ledger,
    )
    for name, settings in spec["backends"].items():
        router.register_backend(CLASSES[name](name, BackendSettings(**settings)))
    costs = []
    async def one(tag):
        try:
            response = await router.route_request(ClaudetteRequest(prompt=f"req-{tag} hello"))
        except Exception:
            return
        costs.append(response.cost_eur)
    sem = asyncio.Semaphore(20)
    async def bounded(tag):
        async with sem:
            await one(tag)
    await asyncio.gather(*(bounded(t) for t in range(spec["first"], spec["first"] + spec["count"])))
    await router.aclose()
    ledger.close()
    print(json.dumps({"answers": len(costs), "cost": sum(costs)}))

asyncio.run(main())
"""


def _settings_dict(provider: Provider) -> dict[str, Any]:
    s = provider.settings()
    return {
        f.name: getattr(s, f.name)
        for f in attrs.fields(type(s))
        if f.name not in ("headers", "extra") and getattr(s, f.name) is not None
    }


async def _route_in_this_process(
    providers: dict[str, Provider], ledger: CostLedger, first: int, rng: random.Random
) -> list[float]:
    """Route PER_ROUTER requests, some streamed, some cancelled; the costs callers got."""
    router = BackendRouter(
        RouterOptions(health_checks=False, max_attempts=4),
        plugins=ClaudettePlugins(autoload=False),
        ledger=ledger,
    )
    for name in NAMES:
        router.register_backend(providers[name].backend())
    received: list[float] = []

    async def one(tag: int) -> float:
        request = ClaudetteRequest(prompt=f"req-{tag} hello")
        if tag % 4 == 0:
            final = None
            async for chunk in router.stream(request):
                final = chunk.response or final
            assert final is not None
            return final.cost_eur
        return (await router.route_request(request)).cost_eur

    async def caller(tag: int) -> None:
        task = asyncio.ensure_future(one(tag))
        if tag % 5 == 0:  # cancelled at a random moment, before or after the answer
            await asyncio.sleep(rng.uniform(0.0, 0.05))
            task.cancel()
        try:
            received.append(await task)
        except (asyncio.CancelledError, ClaudetteError):
            pass

    sem = asyncio.Semaphore(20)

    async def bounded(tag: int) -> None:
        async with sem:
            await caller(tag)

    try:
        await asyncio.gather(*(bounded(t) for t in range(first, first + PER_ROUTER)))
    finally:
        await router.aclose()
    return received


async def test_the_ledger_holds_one_row_per_answer_and_the_total_callers_were_told(
    providers: dict[str, Provider], tmp_path: Path
) -> None:
    for name in NAMES:
        providers[name].plan(fault_plan(SEED, name, RATES))
    path = tmp_path / "ledger.sqlite"
    ledgers = [CostLedger(path), CostLedger(path)]  # two routers, two writers, one file
    rng = random.Random(SEED)
    spec = {name: _settings_dict(providers[name]) for name in NAMES}
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD,
            json.dumps(
                {"ledger": str(path), "backends": spec, "first": 10_000 * (i + 1), "count": PER_ROUTER}
            ),
            stdout=asyncio.subprocess.PIPE,
        )
        for i in range(PROCESSES)
    ]
    here = await asyncio.gather(
        _route_in_this_process(providers, ledgers[0], 0, rng),
        _route_in_this_process(providers, ledgers[1], 1000, rng),
    )
    reports = []
    for child in children:
        out, _ = await asyncio.wait_for(child.communicate(), 300)
        assert child.returncode == 0
        reports.append(json.loads(out))
    for ledger in ledgers:
        assert ledger.flush(60)
        ledger.close()
        assert ledger.failed_rows == 0

    answers = sum(len(costs) for costs in here) + sum(r["answers"] for r in reports)
    told = sum(sum(costs) for costs in here) + sum(r["cost"] for r in reports)
    rows = read_rows([path])
    assert len(rows) == answers
    assert len({r.id for r in rows}) == len(rows)
    assert sum(r.cost_eur for r in rows) == pytest.approx(told, rel=1e-9)
    assert len({r.pid for r in rows}) == PROCESSES + 1
    # The faults and cancellations did bite, and most requests were still answered.
    assert answers < (PROCESSES + 2) * PER_ROUTER
    assert answers > 0.6 * (PROCESSES + 2) * PER_ROUTER
