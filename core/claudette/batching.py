"""Request batching: requests that arrive within a short window are sent together.

    batcher = RequestBatcher(router)          # window etc. from [router.batching]
    answers = await asyncio.gather(*(batcher.submit(r) for r in requests))
    await batcher.aclose()

Every ``window`` seconds (or as soon as ``max_batch`` requests wait) the collected
requests are sent:

- where the chosen backend offers a batch path — a ``send_batch(requests)`` method
  returning one response or ``BackendError`` per request, in order — the requests routed
  to it go in one call;
- all others go through ``router.route_request`` concurrently, in one pool of at most
  ``max_concurrency`` calls (a provider batch takes one slot).

Each caller gets its own response or its own error. A batch call that fails as a whole,
and each retryable per-request error, falls back to routing that request on its own. The
batch path is used only when the router has no cache, rate limit or budget configured
(those are enforced per request); otherwise every request is routed on its own.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from claudette.backend import BatchCapable
from claudette.errors import BackendError, NoBackendAvailableError, ResponseFormatError
from claudette.types import BatchOptions, ClaudetteRequest, ClaudetteResponse

if TYPE_CHECKING:
    from claudette.backend import BaseBackend
    from claudette.router import BackendRouter

__all__ = ["BatchCapable", "RequestBatcher"]

_Item = tuple[ClaudetteRequest, "asyncio.Future[ClaudetteResponse]"]


def _settle(future: asyncio.Future[ClaudetteResponse], result: ClaudetteResponse | BaseException) -> None:
    if future.done():  # the caller gave up (cancelled)
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


class RequestBatcher:
    """Collects requests for a router and sends them in batches.

    :param router: the router that sends them.
    :param options: window, batch size and pool size; the router's ``batching`` options
        (``[router.batching]``) or the defaults when omitted.
    """

    def __init__(self, router: BackendRouter, options: BatchOptions | None = None) -> None:
        self.router = router
        self.options = options or router.options.batching or BatchOptions()
        self._pending: list[_Item] = []
        self._timer: asyncio.TimerHandle | None = None
        self._pool: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: Batches sent, and how many of them used a provider batch path.
        self.batches = 0
        self.provider_batches = 0

    async def submit(self, request: ClaudetteRequest) -> ClaudetteResponse:
        """Queue ``request`` for the next batch and wait for its own answer.

        :raises ClaudetteError: this request's error, exactly as ``route_request`` would.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ClaudetteResponse] = loop.create_future()
        self._pending.append((request, future))
        if len(self._pending) >= self.options.max_batch:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.options.window, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if not batch:
            return
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Send what is waiting now and wait until every batch under way has finished."""
        self._flush()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        """Send what is waiting and wait for it (the router itself stays open)."""
        await self.flush()

    # -- sending ------------------------------------------------------------------------------

    def _pool_slot(self) -> asyncio.Semaphore:
        if self._pool is None:
            self._pool = asyncio.Semaphore(self.options.max_concurrency)
        return self._pool

    async def _batch_backend(self, request: ClaudetteRequest) -> BaseBackend | None:
        """The backend selection picks for ``request``, when it has a batch path."""
        router = self.router
        if router.has_request_gates:
            return None
        try:
            backend = await router.select_backend(request)
        except NoBackendAvailableError:
            return None
        return backend if isinstance(backend, BatchCapable) else None

    async def _send(self, batch: list[_Item]) -> None:
        self.batches += 1
        groups: dict[str, list[_Item]] = {}
        singles: list[_Item] = []
        for item in batch:
            if item[1].done():
                continue
            backend = await self._batch_backend(item[0])
            if backend is None:
                singles.append(item)
            else:
                groups.setdefault(backend.name, []).append(item)
        jobs: list[Any] = []
        for name, items in groups.items():
            if len(items) == 1:
                singles.extend(items)
            else:
                jobs.append(self._send_group(self.router.get_backend(name), items))
        jobs.extend(self._send_one(item) for item in singles)
        await asyncio.gather(*jobs)

    async def _send_one(self, item: _Item) -> None:
        request, future = item
        async with self._pool_slot():
            if future.done():
                return
            try:
                result: ClaudetteResponse | BaseException = await self.router.route_request(request)
            except Exception as exc:
                result = exc
        _settle(future, result)

    async def _send_group(self, backend: BaseBackend, items: list[_Item]) -> None:
        router = self.router
        assert isinstance(backend, BatchCapable)
        if not await router.breaker(backend.name).acquire():
            await asyncio.gather(*(self._send_one(item) for item in items))
            return
        requests = [router.plugins.preprocess_request(r, backend) for r, _ in items]
        results: list[ClaudetteResponse | BackendError] | None = None
        async with self._pool_slot():
            try:
                async with router.attempt(backend, requests[0]) as attempt:
                    results = list(
                        await attempt.within_deadline(backend.send_batch(requests), "batch answer")
                    )
                    if len(results) != len(items):
                        raise ResponseFormatError(
                            f"batch of {len(items)} answered with {len(results)} results", backend.name
                        )
                    for sent, result in zip(requests, results, strict=True):
                        if isinstance(result, ClaudetteResponse):
                            attempt.succeeded(result, sent)
            except BackendError:
                results = None  # the attempt recorded the failure
        self.provider_batches += 1
        if results is None:  # the whole batch failed: each request goes its own way
            await asyncio.gather(*(self._send_one(item) for item in items))
            return
        counters = router.counters
        retry: list[_Item] = []
        for (request, future), result in zip(items, results, strict=True):
            if isinstance(result, ClaudetteResponse):
                counters.requests += 1
                counters.successes += 1
                _settle(future, router.plugins.postprocess_response(request, result))
            elif isinstance(result, BackendError) and result.retryable:
                retry.append((request, future))
            else:
                counters.requests += 1
                counters.failures += 1
                _settle(future, result)
        if retry:
            await asyncio.gather(*(self._send_one(item) for item in retry))
