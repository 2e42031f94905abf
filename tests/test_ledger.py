"""The cost ledger: one row per answered request, off the event loop, crash safe."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from _support import FakeBackend
from claudette import (
    BackendRouter,
    BackendSettings,
    BackendUnavailableError,
    ClaudetteRequest,
    ClaudetteResponse,
    RouterOptions,
)
from claudette.ledger import CostLedger, LedgerRow, read_rows, summarise
from claudette.options import CacheOptions
from claudette.plugins import ClaudettePlugins


def _response(backend: str = "a", cost: float = 0.25, model: str = "m") -> ClaudetteResponse:
    return ClaudetteResponse("x", backend, model, 10, 5, cost, price_source="config")


def _router(ledger: CostLedger, *backends: FakeBackend, **options: object) -> BackendRouter:
    router = BackendRouter(
        RouterOptions(health_checks=False, **options),  # type: ignore[arg-type]
        plugins=ClaudettePlugins(autoload=False),
        ledger=ledger,
    )
    for backend in backends:
        router.register_backend(backend)
    return router


def _priced(name: str, **kw: object) -> FakeBackend:
    return FakeBackend(name, BackendSettings(model="m", cost_per_token=1e-3), **kw)  # type: ignore[arg-type]


def _unavailable(name: str) -> BackendUnavailableError:
    return BackendUnavailableError("down", name, True, 503)


# -- writing and reading -----------------------------------------------------------------


def test_rows_are_written_once_and_read_back(tmp_path: Path) -> None:
    ledger = CostLedger(tmp_path / "ledger.sqlite")
    row = ledger.record(_response(cost=0.1))
    ledger.write(row)  # the same row again: still one
    ledger.record(_response("b", 0.2))
    assert ledger.flush(10)
    rows = read_rows([ledger.path])
    assert sorted((r.backend, r.cost_eur) for r in rows) == [("a", 0.1), ("b", 0.2)]
    assert rows[0].pid == os.getpid() and rows[0].price_source == "config"
    ledger.close()


def test_the_file_is_in_wal_mode_and_a_bad_path_fails_at_once(tmp_path: Path) -> None:
    ledger = CostLedger(tmp_path / "sub" / "dir" / "ledger.sqlite")
    with sqlite3.connect(ledger.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OSError):
        CostLedger(tmp_path / "file" / "ledger.sqlite")


def test_recording_never_waits_for_the_disk(tmp_path: Path) -> None:
    ledger = CostLedger(tmp_path / "ledger.sqlite")
    other = sqlite3.connect(ledger.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        started = time.perf_counter()
        for _ in range(200):
            ledger.record(_response())
        assert time.perf_counter() - started < 1.0
        assert not ledger.flush(0.2)  # not written while the lock is held ...
    finally:
        other.execute("COMMIT")
        other.close()
    assert ledger.flush(30)  # ... and all written once it is released
    assert len(read_rows([ledger.path])) == 200
    ledger.close()


def test_many_threads_and_ledgers_on_one_file_lose_and_double_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledgers = [CostLedger(path) for _ in range(4)]

    def work(ledger: CostLedger) -> None:
        for i in range(250):
            ledger.record(_response(cost=0.001 * (i % 7)))

    threads = [threading.Thread(target=work, args=(ledger,)) for ledger in ledgers for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for ledger in ledgers:
        assert ledger.flush(60)
        ledger.close()
    rows = read_rows([path])
    assert len(rows) == 8 * 250
    assert sum(r.cost_eur for r in rows) == pytest.approx(8 * sum(0.001 * (i % 7) for i in range(250)))
    assert all(ledger.failed_rows == 0 for ledger in ledgers)


def test_the_writer_thread_ends_when_idle_and_comes_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import claudette.ledger as ledger_module

    monkeypatch.setattr(ledger_module, "IDLE_EXIT_S", 0.05)
    ledger = CostLedger(tmp_path / "ledger.sqlite")
    ledger.record(_response())
    assert ledger.flush(10)
    deadline = time.monotonic() + 5
    while ledger._thread is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ledger._thread is None
    ledger.record(_response())
    assert ledger.flush(10)
    assert len(read_rows([ledger.path])) == 2
    ledger.close()


WRITER = textwrap.dedent(
    """
    import os, sys
    from claudette import ClaudetteResponse
    from claudette.ledger import CostLedger
    ledger = CostLedger(sys.argv[1])
    for i in range(int(sys.argv[2])):
        ledger.record(ClaudetteResponse("x", "a", "m", 1, 1, 0.5))
    ledger.flush()
    print("flushed", flush=True)
    if sys.argv[3] == "exit":
        os._exit(1)  # no clean shutdown: what was flushed must still be there
    while True:  # keep writing until killed
        ledger.record(ClaudetteResponse("x", "a", "m", 1, 1, 0.5))
    """
)


def test_flushed_rows_survive_a_process_that_dies(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    CostLedger(path)
    subprocess.run([sys.executable, "-c", WRITER, str(path), "300", "exit"], check=False, timeout=60)
    assert len(read_rows([path])) == 300


def test_a_writer_killed_mid_write_leaves_a_sound_file(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    CostLedger(path)
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), "100", "loop"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "flushed"
        time.sleep(0.3)  # let it write more
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    rows = read_rows([path])
    assert len(rows) >= 100
    assert len({r.id for r in rows}) == len(rows)


def test_summaries_group_by_backend_model_and_day(tmp_path: Path) -> None:
    day = 86_400.0
    rows = [
        LedgerRow(str(i), 10 * day + i * day / 2, b, m, 10, 5, 2, 0, 1, c, s, hit, 1)
        for i, (b, m, c, s, hit) in enumerate(
            [
                ("a", "m1", 0.1, "config", False),
                ("a", "m2", 0.2, "price table", False),
                ("b", "m1", 0.0, "unknown", False),
                ("b", "m1", 0.0, "config", True),
            ]
        )
    ]
    by_backend = {g["backend"]: g for g in summarise(rows, "backend")}
    assert by_backend["a"]["cost_eur"] == pytest.approx(0.3)
    assert (by_backend["b"]["answers"], by_backend["b"]["cache_hits"], by_backend["b"]["unknown_price"]) == (2, 1, 1)
    assert [g["model"] for g in summarise(rows, "model")] == ["m1", "m2"]
    assert [g["day"] for g in summarise(rows, "day")] == ["1970-01-11", "1970-01-12"]


def test_reading_several_files_counts_a_shared_row_once(tmp_path: Path) -> None:
    one, two = CostLedger(tmp_path / "one.sqlite"), CostLedger(tmp_path / "two.sqlite")
    shared = one.record(_response(cost=1.0))
    two.write(shared)
    two.record(_response(cost=2.0))
    for ledger in (one, two):
        assert ledger.flush(10)
        ledger.close()
    rows = read_rows([one.path, two.path])
    assert sorted(r.cost_eur for r in rows) == [1.0, 2.0]
    with pytest.raises(FileNotFoundError):
        read_rows([tmp_path / "missing.sqlite"])


# -- the router writes exactly one row per answer -------------------------------------------------


async def test_a_request_that_falls_back_is_one_row_with_the_cost_the_caller_got(tmp_path: Path) -> None:
    ledger = CostLedger(tmp_path / "ledger.sqlite")
    first = _priced("a", script=[_unavailable("a")])  # tried first: same score, first by name
    second = _priced("b")
    async with _router(ledger, first, second) as router:
        response = await router.route_request(ClaudetteRequest(prompt="hi"))
    assert response.backend_used == "b"
    rows = read_rows([ledger.path])
    assert [(r.backend, r.cost_eur) for r in rows] == [("b", response.cost_eur)]
    ledger.close()


async def test_streams_and_cache_hits_are_rows_too(tmp_path: Path) -> None:
    ledger = CostLedger(tmp_path / "ledger.sqlite")
    async with _router(ledger, _priced("a"), cache=CacheOptions()) as router:
        first = await router.route_request(ClaudetteRequest(prompt="same"))
        hit = await router.route_request(ClaudetteRequest(prompt="same"))
        chunks = [c async for c in router.stream(ClaudetteRequest(prompt="streamed"))]
    final = chunks[-1].response
    assert final is not None and hit.cache_hit
    rows = read_rows([ledger.path])
    assert [(r.cost_eur, r.cache_hit) for r in rows] == [
        (first.cost_eur, False),
        (0.0, True),
        (final.cost_eur, False),
    ]
    ledger.close()


async def test_a_failed_request_writes_nothing(tmp_path: Path) -> None:
    ledger = CostLedger(tmp_path / "ledger.sqlite")
    async with _router(ledger, _priced("a", script=[_unavailable("a")])) as router:
        with pytest.raises(Exception, match="down"):
            await router.route_request(ClaudetteRequest(prompt="hi"))
    assert read_rows([ledger.path]) == []
    ledger.close()


async def test_a_caller_cancelled_before_the_answer_writes_nothing(tmp_path: Path) -> None:
    ledger = CostLedger(tmp_path / "ledger.sqlite")
    async with _router(ledger, _priced("a", delay=5.0)) as router:
        task = asyncio.ensure_future(router.route_request(ClaudetteRequest(prompt="hi")))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert read_rows([ledger.path]) == []
    ledger.close()


def test_a_config_ledger_is_opened_by_the_factory(tmp_path: Path) -> None:
    from claudette.config import parse_config
    from claudette.errors import ConfigError
    from claudette.factory import router_from_config

    path = tmp_path / "costs.sqlite"
    config = parse_config({"ledger": {"path": str(path)}})
    router = router_from_config(config, plugins=ClaudettePlugins(autoload=False))
    assert router.ledger is not None and router.ledger.path == path
    assert router_from_config(parse_config({}), plugins=ClaudettePlugins(autoload=False)).ledger is None
    (tmp_path / "file").write_text("")
    bad = parse_config({"ledger": {"path": str(tmp_path / "file" / "x.sqlite")}})
    with pytest.raises(ConfigError, match=r"ledger\.path"):
        router_from_config(bad, plugins=ClaudettePlugins(autoload=False))
    with pytest.raises(ConfigError, match=r"ledger\.pth"):
        parse_config({"ledger": {"pth": "x"}})


# -- the budget resumes from the ledger ------------------------------------------------------


@pytest.mark.parametrize("period", ["hour", "day", "week", "month"])
def test_period_start_is_the_first_moment_of_the_period(period: str) -> None:
    from claudette.budget import period_key, period_start

    for t in (1_764_748_800.0 + 12_345.6, 1_767_225_599.0, 1_700_000_000.0):  # 2025-12, a new year's eve
        start = period_start(period, t)
        assert start <= t
        assert period_key(period, start) == period_key(period, t)
        assert period_key(period, start - 1) != period_key(period, t)
    if period == "week":
        assert time.gmtime(period_start("week", 1_700_000_000.0)).tm_wday == 0  # a Monday


async def test_a_budget_resumes_from_what_the_ledger_spent_this_period(tmp_path: Path) -> None:
    from claudette.options import BudgetOptions

    path = tmp_path / "ledger.sqlite"
    earlier = CostLedger(path)
    earlier.record(_response(cost=0.04))  # spent today by a process that has since stopped
    earlier.write(LedgerRow.of(_response(cost=5.0), at=time.time() - 3 * 86_400))  # long ago
    assert earlier.flush(10)
    earlier.close()
    ledger = CostLedger(path)
    # 10 prompt tokens ("hi" and more) plus 256 out at 1e-4: about 0.027 EUR a request.
    paid = FakeBackend("paid", BackendSettings(model="m", cost_per_token=1e-4))
    async with _router(ledger, paid, budget=BudgetOptions(limit_eur=0.05, period="day")) as router:
        (candidate,) = router.explain(ClaudetteRequest(prompt="hi"))
        assert candidate.skipped is not None and "over budget: EUR 0.0400" in candidate.skipped
    ledger.close()
    fresh = CostLedger(tmp_path / "fresh.sqlite")
    async with _router(fresh, paid, budget=BudgetOptions(limit_eur=0.05, period="day")) as router:
        (candidate,) = router.explain(ClaudetteRequest(prompt="hi"))
        assert candidate.skipped is None
    fresh.close()


def test_a_count_too_large_for_sqlite_is_capped_and_the_writer_lives_on(tmp_path: Path) -> None:
    ledger = CostLedger(tmp_path / "ledger.sqlite")
    huge = ClaudetteResponse("x", "a", "m", 10**30, 5, 0.1, tokens_reasoning=10**40)
    ledger.record(huge)
    ledger.record(_response(cost=0.2))
    assert ledger.flush(10)
    rows = read_rows([ledger.path])
    assert sorted(r.cost_eur for r in rows) == [0.1, 0.2]
    assert max(r.tokens_input for r in rows) == 2**63 - 1
    assert ledger.failed_rows == 0
    ledger.close()
