"""Request batching: a window collects requests; provider batch path or one bounded pool."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from claudette import (
    BackendError,
    BackendSettings,
    BackendUnavailableError,
    BreakerPolicy,
    ClaudetteRequest,
    ClaudetteResponse,
    InvalidRequestError,
)
from claudette.batching import BatchCapable, RequestBatcher
from claudette.config import parse_config
from claudette.types import BatchOptions, CacheOptions
from test_patterns_support import FakeBackend, make_router, req


class BatchBackend(FakeBackend):
    """A fake with a provider batch path; ``bad`` prompts get a per-request error."""

    def __init__(self, name: str, **kw: object) -> None:
        super().__init__(name, **kw)  # type: ignore[arg-type]
        self.batch_sizes: list[int] = []
        self.batch_failures: list[BaseException] = []

    async def send_batch(self, requests: Sequence[ClaudetteRequest]) -> list[ClaudetteResponse | BackendError]:
        self.batch_sizes.append(len(requests))
        await asyncio.sleep(0.005)
        if self.batch_failures:
            raise self.batch_failures.pop(0)
        out: list[ClaudetteResponse | BackendError] = []
        for r in requests:
            if r.prompt == "bad":
                out.append(InvalidRequestError("bad prompt", self.name))
            elif r.prompt == "flaky":
                out.append(BackendUnavailableError("try again", self.name))
            else:
                out.append(self.create_success_response(f"{self.name}: {r.prompt}", 1, 1, 5.0, request=r))
        return out


async def submit_all(batcher: RequestBatcher, prompts: list[str]) -> list[object]:
    return await asyncio.gather(*(batcher.submit(req(p)) for p in prompts), return_exceptions=True)


async def test_requests_in_one_window_go_in_one_provider_batch() -> None:
    a = BatchBackend("a")
    batcher = RequestBatcher(make_router(a), BatchOptions(window=0.02))
    results = await submit_all(batcher, [f"q{i}" for i in range(10)])
    assert a.batch_sizes == [10]
    assert a.calls == 0  # no single sends
    assert [r.content for r in results] == [f"a: q{i}" for i in range(10)]  # type: ignore[attr-defined]
    assert batcher.provider_batches == 1


async def test_each_caller_gets_its_own_error() -> None:
    a = BatchBackend("a")
    batcher = RequestBatcher(make_router(a), BatchOptions(window=0.02))
    results = await submit_all(batcher, ["ok1", "bad", "ok2"])
    assert isinstance(results[1], InvalidRequestError)
    assert [results[0].content, results[2].content] == ["a: ok1", "a: ok2"]  # type: ignore[attr-defined]


async def test_retryable_per_request_errors_are_routed_on_their_own() -> None:
    a = BatchBackend("a")
    batcher = RequestBatcher(make_router(a), BatchOptions(window=0.02))
    results = await submit_all(batcher, ["ok", "flaky"])
    assert a.batch_sizes == [2]
    # routed alone: the single send answers it
    assert [r.content for r in results] == ["a: ok", "a: flaky"]  # type: ignore[attr-defined]
    assert a.calls == 1


async def test_failed_batch_falls_back_request_by_request() -> None:
    a = BatchBackend("a", priority=1)
    a.batch_failures = [BackendUnavailableError("down", "a")]
    b = FakeBackend("b", BackendSettings(model="m", priority=2))
    router = make_router(a, b)
    batcher = RequestBatcher(router, BatchOptions(window=0.02))
    results = await submit_all(batcher, ["x", "y", "z"])
    assert a.stats.failures == 1  # the breaker saw the failed batch once
    # routed alone, each request avoids the backend that just failed
    assert [r.content for r in results] == ["b: x", "b: y", "b: z"]  # type: ignore[attr-defined]


async def test_a_probe_batch_whose_every_request_fails_on_its_own_frees_the_probe() -> None:
    a = BatchBackend("a")
    router = make_router(a)
    breaker = router.breaker("a")
    breaker.policy = BreakerPolicy(failure_threshold=1, reset_timeout=0.0)
    breaker.record_failure()  # open, and due for a probe at once
    batcher = RequestBatcher(router, BatchOptions(window=0.02))
    results = await submit_all(batcher, ["bad", "bad"])
    assert a.batch_sizes == [2]
    assert all(isinstance(r, InvalidRequestError) for r in results)
    assert breaker.state.value == "half_open"
    assert breaker.allows_request()  # the probe slot was given back


async def test_without_a_batch_path_requests_run_in_one_bounded_pool() -> None:
    a = FakeBackend("a", delay=0.01)
    batcher = RequestBatcher(make_router(a), BatchOptions(window=0.01, max_concurrency=3))
    results = await submit_all(batcher, [f"q{i}" for i in range(12)])
    assert a.max_active == 3
    assert sorted(r.content for r in results) == sorted(f"a: q{i}" for i in range(12))  # type: ignore[attr-defined]


async def test_a_full_batch_is_sent_without_waiting_for_the_window() -> None:
    a = BatchBackend("a")
    batcher = RequestBatcher(make_router(a), BatchOptions(window=10.0, max_batch=4))
    results = await asyncio.wait_for(submit_all(batcher, [f"q{i}" for i in range(8)]), timeout=2)
    assert a.batch_sizes == [4, 4]
    assert len(results) == 8


async def test_requests_after_the_window_go_in_the_next_batch() -> None:
    a = BatchBackend("a")
    batcher = RequestBatcher(make_router(a), BatchOptions(window=0.02))
    first = asyncio.gather(*(batcher.submit(req(f"a{i}")) for i in range(3)))
    await asyncio.sleep(0.05)
    second = asyncio.gather(*(batcher.submit(req(f"b{i}")) for i in range(2)))
    await first
    await second
    assert a.batch_sizes == [3, 2]


async def test_requests_of_a_batch_may_go_to_different_backends() -> None:
    a = BatchBackend("a")
    b = FakeBackend("b")
    batcher = RequestBatcher(make_router(a, b), BatchOptions(window=0.02))
    results = await asyncio.gather(
        batcher.submit(req("x1")), batcher.submit(req("x2")), batcher.submit(req("y", backend="b"))
    )
    assert [r.backend_used for r in results] == ["a", "a", "b"]
    assert a.batch_sizes == [2]


async def test_router_patterns_make_every_request_go_alone() -> None:
    a = BatchBackend("a")
    router = make_router(a, cache=CacheOptions())
    batcher = RequestBatcher(router, BatchOptions(window=0.02))
    await submit_all(batcher, ["q1", "q2"])
    assert a.batch_sizes == []
    assert a.calls == 2


async def test_counters_count_each_batched_request() -> None:
    a = BatchBackend("a")
    router = make_router(a)
    batcher = RequestBatcher(router, BatchOptions(window=0.02))
    await submit_all(batcher, ["q1", "q2", "bad"])
    c = router.counters
    assert (c.requests, c.successes, c.failures, c.attempts) == (3, 2, 1, 1)


async def test_flush_sends_at_once() -> None:
    a = BatchBackend("a")
    batcher = RequestBatcher(make_router(a), BatchOptions(window=60.0))
    pending = asyncio.ensure_future(batcher.submit(req("q")))
    await asyncio.sleep(0)
    await batcher.flush()
    assert (await pending).content == "a: q"


def test_batch_capable_protocol() -> None:
    assert isinstance(BatchBackend("a"), BatchCapable)
    assert not isinstance(FakeBackend("b"), BatchCapable)


async def test_options_come_from_the_router() -> None:
    config = parse_config({"router": {"batching": {"window": 0.05, "max_batch": 16, "max_concurrency": 4}}})
    batcher = RequestBatcher(make_router(FakeBackend("a"), options=config.router))
    assert batcher.options == BatchOptions(window=0.05, max_batch=16, max_concurrency=4)


def test_default_options() -> None:
    assert BatchOptions() == BatchOptions(window=0.1, max_batch=32, max_concurrency=8)


@pytest.mark.parametrize("bad", [{"window": -1}, {"max_batch": 0}, {"max_concurrency": 0}])
def test_options_are_validated(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BatchOptions(**bad)  # type: ignore[arg-type]
