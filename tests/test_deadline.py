"""claudette._deadline: ``fail_after`` scopes on one timer per event loop."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest
from claudette._deadline import fail_after, watchdog_for


async def test_a_block_past_its_deadline_raises_timeout_error():
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        with fail_after(0.05):
            await asyncio.sleep(5)
    assert 0.04 <= loop.time() - started < 1.0
    assert watchdog_for(loop).deadlines == {}


async def test_a_block_that_ends_in_time_leaves_nothing_behind():
    with fail_after(5) as scope:
        await asyncio.sleep(0)
    assert not scope.expired
    assert watchdog_for(asyncio.get_running_loop()).deadlines == {}
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_no_deadline_for_none_or_infinity():
    for seconds in (None, float("inf")):
        with fail_after(seconds):
            await asyncio.sleep(0)
        assert watchdog_for(asyncio.get_running_loop()).deadlines == {}


async def test_a_callers_cancellation_stays_a_cancellation():
    entered = asyncio.Event()

    async def worker() -> None:
        with fail_after(5):
            entered.set()
            await asyncio.sleep(5)

    task = asyncio.ensure_future(worker())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize(
    ("caller_cancels_too", "raised"),
    [(False, TimeoutError), (True, asyncio.CancelledError)],
)
async def test_the_deadline_alone_is_a_timeout_and_a_callers_cancel_is_never_swallowed(
    caller_cancels_too, raised
):
    scopes: list[fail_after] = []
    entered = asyncio.Event()

    async def worker() -> None:
        with fail_after(5) as scope:
            scopes.append(scope)
            entered.set()
            await asyncio.sleep(5)

    task = asyncio.ensure_future(worker())
    await entered.wait()
    scopes[0].expire()  # the deadline fires (what the watchdog's timer does) ...
    if caller_cancels_too:
        task.cancel()  # ... and the caller cancels too, before the task runs again
    with pytest.raises(raised):
        await task


async def test_many_deadlines_share_one_timer_and_each_fires_on_time():
    loop = asyncio.get_running_loop()
    results: dict[float, str] = {}

    async def run(seconds: float) -> None:
        try:
            with fail_after(seconds):
                await asyncio.sleep(0.3)
            results[seconds] = "done"
        except TimeoutError:
            results[seconds] = "timeout"

    await asyncio.gather(*(run(s) for s in (0.05, 0.1, 5.0, 0.02)))
    assert results == {0.02: "timeout", 0.05: "timeout", 0.1: "timeout", 5.0: "done"}
    assert watchdog_for(loop).deadlines == {}


async def test_works_around_an_await_inside_an_async_generator():
    async def gen():
        with fail_after(0.02):
            await asyncio.sleep(1)
        yield 1

    with pytest.raises(TimeoutError):
        async for _ in gen():
            pass


def test_outside_a_task_it_says_so():
    with pytest.raises(RuntimeError):  # no running loop, let alone a task
        with fail_after(1):
            pass


def test_the_watchdog_does_not_keep_a_closed_loop_alive():
    async def use() -> None:
        with fail_after(30):  # arms a timer 30 s away, left on the loop
            await asyncio.sleep(0)

    loop = asyncio.new_event_loop()
    ref = weakref.ref(loop)
    loop.run_until_complete(use())
    loop.close()
    del loop
    gc.collect()
    assert ref() is None


def test_each_loop_has_its_own_watchdog():
    async def which() -> object:
        with fail_after(1):
            await asyncio.sleep(0)
        return watchdog_for(asyncio.get_running_loop())

    first = asyncio.run(which())
    second = asyncio.run(which())
    assert first is not second


# The task lookup: after the first block on a loop, the loop is asked for its current task
# directly (no running-loop lookup, which costs a getpid() system call on 3.11) — but only
# when that loop runs in the calling thread, and never with a forked parent's loop.


async def test_later_blocks_skip_the_running_loop_lookup(monkeypatch: pytest.MonkeyPatch):
    with fail_after(5):  # makes this loop's watchdog the last one used
        await asyncio.sleep(0)
    looked_up: list[object] = []
    real = asyncio.current_task

    def counting(loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Task[object] | None:
        looked_up.append(loop)
        return real(loop)

    monkeypatch.setattr(asyncio, "current_task", counting)
    for _ in range(3):
        with fail_after(5) as block:
            await asyncio.sleep(0)
        assert block._task is real()
    assert looked_up == []


def test_a_loop_busy_in_another_thread_never_lends_its_task():
    """Thread B's loop, caught in the middle of a task step, was the last one used; a
    block in the main thread's loop must still cancel the main thread's own task."""
    import threading

    inside, release = threading.Event(), threading.Event()

    async def held_in_a_step() -> None:
        with fail_after(30):
            await asyncio.sleep(0)
        with fail_after(30):
            inside.set()
            release.wait(10)  # blocks thread B inside this task's step

    other = threading.Thread(target=asyncio.run, args=(held_in_a_step(),))
    other.start()
    try:
        assert inside.wait(10)

        async def mine() -> bool:
            with fail_after(5) as block:
                await asyncio.sleep(0)
            return block._task is asyncio.current_task()

        assert asyncio.run(mine())
    finally:
        release.set()
        other.join(10)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_take_the_parents_task():
    """Forked inside a task step, the child starts a new loop: its blocks must hold the
    child's task, not the parent's task frozen mid-step."""
    import os

    async def fork_in_a_step() -> int:
        with fail_after(30):
            await asyncio.sleep(0)
        pid = os.fork()
        if pid == 0:  # the child: a new loop in the same thread
            async def mine() -> bool:
                with fail_after(5) as block:
                    await asyncio.sleep(0)
                return block._task is asyncio.current_task()

            ok = False
            try:
                ok = asyncio.new_event_loop().run_until_complete(mine())
            finally:
                os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    assert asyncio.run(fork_in_a_step()) == 0
