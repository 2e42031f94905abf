"""The :class:`BackendRouter`: choose a backend, call it under its breaker, fall back.

The router holds the registered backends with their state (statistics and breaker, from
the state store) and composes the package's parts around each request: the response
cache, the fallback sequence over selection and the gates, one attempt per backend tried
(with retries when configured). ``docs/routing.md`` describes the behaviour.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Collection, Iterable, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import attrs

from claudette._log import logger
from claudette.errors import BackendError, NoBackendAvailableError
from claudette.policy import DEFAULT_BREAKER_POLICY
from claudette.router import selection
from claudette.router.attempt import Attempt
from claudette.router.continuation import Continuation
from claudette.router.counters import RouterCounters
from claudette.router.fallback import FallbackSequence
from claudette.router.gates import RequestGates
from claudette.router.health import HealthRefresher
from claudette.router.observation import Observation
from claudette.router.retries import RetryBudget, with_retries
from claudette.router.selection import Candidate, Entry, Scorer
from claudette.router.snapshot import stats_snapshot
from claudette.router.streaming import BackendStream
from claudette.state import InMemoryStateStore, StateStore
from claudette.types import (
    BackendInfo,
    ClaudetteRequest,
    ClaudetteResponse,
    RouterOptions,
    StreamChunk,
)

if TYPE_CHECKING:
    from claudette.adaptive import AdaptiveWeights
    from claudette.backend import BaseBackend
    from claudette.breaker import CircuitBreaker
    from claudette.cache import CachedRouting
    from claudette.ledger import CostLedger
    from claudette.plugins import ClaudettePlugins
    from claudette.request_context import RequestContext

__all__ = ["BackendRouter"]

#: Seconds closing a router waits for its ledger's queued rows to be committed.
LEDGER_FLUSH_TIMEOUT = 30.0


class BackendRouter:
    """Routes requests to the best usable backend and survives their failures.

    :param options: weights and limits; the defaults of :class:`RouterOptions` when omitted.
    :param plugins: the plugin manager whose hooks score backends and set breaker policies;
        the process's loaded manager (:func:`claudette.get_plugin_manager`) when omitted.
    :param store: where per-backend state lives; an in-memory store when omitted.
    :param ledger: the cost ledger that gets one row per answer returned; None: none.
        The router flushes it when closed; whoever opened it closes it.
    """

    def __init__(
        self,
        options: RouterOptions | None = None,
        *,
        plugins: ClaudettePlugins | None = None,
        store: StateStore | None = None,
        ledger: CostLedger | None = None,
    ) -> None:
        self.options = options or RouterOptions()
        #: The cost ledger every answer is written to; None: none.
        self.ledger = ledger
        if plugins is None:
            from claudette.plugins import get_plugin_manager

            plugins = get_plugin_manager()
        self.plugins = plugins
        self._observation = Observation(plugins)
        self.store: StateStore = store or InMemoryStateStore(self.options.latency_window)
        self.counters = RouterCounters()
        self._entries: dict[str, Entry] = {}
        self._ordered: list[Entry] = []  # by (priority, name): the tie-break order
        self._score = self._scorer()
        self._gates = RequestGates(self.store, self.options.budget)
        spend = self._gates.ledger
        if ledger is not None and spend is not None:
            # The budget resumes from what the ledger recorded this period, so that it
            # survives a restart.
            spend.resume(ledger.total_since(spend.period_started))
        self._cache = self._cached_routing()
        self._health = HealthRefresher(lambda: (e.backend for e in self._ordered))
        self._adaptive = self._adaptive_weights()
        # Adaptive weights configured: the first request starts their background task.
        self._adaptive_to_start = self._adaptive
        self._tasks: set[asyncio.Task[None]] = set()

    # A pattern's module is imported only when the pattern is configured, so that
    # `import claudette` stays light.

    def _scorer(self) -> Scorer:
        if self.options.strategy == "score":
            return self.plugins.score_backend
        from claudette.balancing import STRATEGIES

        return STRATEGIES[self.options.strategy]

    def _cached_routing(self) -> CachedRouting | None:
        options = self.options.cache
        if options is None or not options.enabled:
            return None
        from claudette.cache import CachedRouting

        return CachedRouting(self.store.response_cache(options), options, self.counters)

    def _adaptive_weights(self) -> AdaptiveWeights | None:
        options = self.options.adaptive
        if options is None or not options.enabled:
            return None
        from claudette.adaptive import AdaptiveWeights

        return AdaptiveWeights(options, self.options)

    # -- registration ---------------------------------------------------------------------

    def register_backend(self, backend: BaseBackend) -> None:
        """Add a backend; its settings are validated and its breaker policy chosen by hook.

        :raises ValueError: when a backend of that name is already registered.
        :raises ConfigError: when its settings are invalid.
        """
        if backend.name in self._entries:
            raise ValueError(f"a backend named {backend.name!r} is already registered")
        backend.validate_config()
        use_pricing = getattr(backend, "use_pricing", None)
        if use_pricing is not None:
            use_pricing(
                usd_to_eur=self.options.usd_to_eur,
                unknown_price_policy=self.options.unknown_price_policy,
            )
            _ = backend.prices  # resolved now, so that no request waits for the price table
        stats = self.store.stats(backend.name)
        backend.bind_stats(stats)
        policy = self.plugins.breaker_policy(backend)
        if policy is DEFAULT_BREAKER_POLICY:  # no plugin chose one: the router's options do
            policy = self.options.breaker
        breaker = self.store.breaker(backend.name, policy)
        breaker.on_transition = self._observation.breaker_moved
        self._gates.add_backend(backend)
        self._entries[backend.name] = Entry(backend, stats, breaker)
        self._reorder()

    def unregister_backend(self, name: str) -> BaseBackend:
        """Remove a backend and forget its state; returns it (not closed)."""
        entry = self._entries.pop(name)
        self._gates.remove_backend(name)
        self._health.forget(name)
        self.store.forget(name)
        self._reorder()
        return entry.backend

    def _reorder(self) -> None:
        self._ordered = sorted(
            self._entries.values(), key=lambda e: (e.backend.settings.priority, e.backend.name)
        )

    @property
    def backends(self) -> dict[str, BaseBackend]:
        """The registered backends by name (a copy)."""
        return {name: entry.backend for name, entry in self._entries.items()}

    def get_backend(self, name: str) -> BaseBackend:
        """The backend called ``name``.

        :raises KeyError: when none is registered under that name.
        """
        return self._entries[name].backend

    def breaker(self, name: str) -> CircuitBreaker:
        """The circuit breaker of backend ``name``."""
        return self._entries[name].breaker

    # -- selection --------------------------------------------------------------------------

    def _select(
        self,
        request: ClaudetteRequest,
        exclude: Collection[str] = (),
        failures: Mapping[str, str] | None = None,
    ) -> Entry:
        now = time.monotonic()
        if self.options.health_checks:
            forced = request.backend
            self._health.refresh_stale(
                (
                    e.backend
                    for e in self._ordered
                    if e.backend.name not in exclude and forced in (None, e.backend.name)
                ),
                now,
            )
        return selection.select(
            self._ordered, request, now, exclude=exclude, failures=failures,
            gates=self._gates, score=self._score, options=self.options,
        )

    async def select_backend(
        self, request: ClaudetteRequest, exclude_backends: Iterable[str] = ()
    ) -> BaseBackend:
        """The backend that should answer ``request`` now.

        :param exclude_backends: names not to consider (already tried).
        :raises NoBackendAvailableError: when none is usable; ``reasons`` says why each was skipped.
        """
        return self._select(request, frozenset(exclude_backends)).backend

    def explain(
        self, request: ClaudetteRequest, response: ClaudetteResponse | None = None
    ) -> list[Candidate]:
        """Every backend with its score components or the reason it was skipped.

        The components are the default formula's, for display; the score itself comes from
        the hooks (or the strategy), exactly as selection computes it.

        :param response: the answer ``request`` got: the backend that gave it is marked
            chosen, and each backend that failed before it carries its failure
            (:func:`~claudette.router.selection.with_outcome`).
        """
        candidates = selection.explain(
            self._ordered, request, time.monotonic(),
            gates=self._gates, score=self._score, options=self.options,
        )
        if response is not None:
            return selection.with_outcome(candidates, response)
        return candidates

    def _cooldown_wait(self, request: ClaudetteRequest, exclude: Collection[str]) -> float | None:
        assessments = selection.assess(
            self._ordered, request, time.monotonic(), exclude=exclude,
            gates=self._gates, score=None, options=self.options,
        )
        return selection.cooldown_wait(assessments)

    @property
    def has_request_gates(self) -> bool:
        """True when a response cache, a rate limit, a budget or a ledger applies to each request.

        Code that calls backends itself (request batching) must then send each request
        through :meth:`route_request`, where they are enforced.
        """
        return self._cache is not None or self._gates.active or self.ledger is not None

    def attempt(
        self, backend: BaseBackend, request: ClaudetteRequest, context: RequestContext | None = None
    ) -> Attempt:
        """One call to ``backend``, accounted as the router accounts its own (see :class:`Attempt`).

        For code that calls a backend itself (request batching): acquire its breaker first
        (``await router.breaker(name).acquire()``), then ``async with router.attempt(...)``.

        :param context: the request the call belongs to, for observers; one of its own
            when omitted.
        """
        breaker = self._entries[backend.name].breaker
        return Attempt(
            backend, breaker, request, gates=self._gates, plugins=self.plugins,
            counters=self.counters, context=context,
        )

    # -- routing ------------------------------------------------------------------------------

    def _fallback(self, request: ClaudetteRequest, context: RequestContext) -> FallbackSequence:
        return FallbackSequence(
            request,
            self.options,
            self.counters,
            select=self._select,
            cooldown_wait=self._cooldown_wait,
            context=context,
            panic=self._panic_candidates,
        )

    def _panic_candidates(self, request: ClaudetteRequest, exclude: Collection[str]) -> list[Entry]:
        return selection.panic_candidates(
            self._ordered, request, time.monotonic(), exclude=exclude, gates=self._gates
        )

    async def route_request(self, request: ClaudetteRequest) -> ClaudetteResponse:
        """Send ``request`` to the best usable backend, falling back on retryable failures.

        With ``RouterOptions.cache`` set, an answer cached for the same request is returned
        at once (``cache_hit=True``, ``cost_eur=0``), and identical concurrent requests
        share one backend call.

        :raises BackendError: a non-retryable failure (raised at once), or the last
            retryable one when fallback is off.
        :raises NoBackendAvailableError: when no usable backend is left; ``reasons`` holds
            every backend's skip reason or failure.
        """
        self._start_background_tasks()
        if self._cache is not None and request.use_cache:
            response = await self._cache.route(request, self._route)
        else:
            response = await self._route(request)
        # Nothing is awaited between the answer and its row: a cancellation cannot come
        # between them, and a fallback or retry inside _route never reaches here twice.
        if self.ledger is not None:
            self.ledger.record(response)
        return response

    async def _route(self, request: ClaudetteRequest) -> ClaudetteResponse:
        """``route_request`` without the cache."""
        counters = self.counters
        counters.requests += 1
        context = self._observation.start(request, stream=False)
        fallback = self._fallback(request, context)
        backoff = RetryBudget(self.options.max_retry_wait)
        try:
            while True:
                entry = await fallback.next()
                sent = self.plugins.preprocess_request(request, entry.backend)
                try:
                    response = await self._send(entry, sent, backoff, context)
                except BackendError as error:
                    fallback.failed(entry.backend, error)
                    continue
                counters.successes += 1
                response = self.plugins.postprocess_response(request, fallback.annotate(response))
                break
        except BaseException as error:
            counters.failures += 1
            self._observation.end(context, None, error)
            raise
        self._observation.end(context, response, None)
        return response

    async def _send(
        self, entry: Entry, request: ClaudetteRequest, backoff: RetryBudget, context: RequestContext
    ) -> ClaudetteResponse:
        """One attempt on ``entry``'s backend, retried when it has ``max_retries``."""
        if not entry.backend.settings.max_retries:
            return await self._send_once(entry, request, context)
        return await with_retries(
            lambda: self._send_once(entry, request, context),
            entry,
            request,
            backoff,
            gates=self._gates,
            counters=self.counters,
        )

    async def _send_once(
        self, entry: Entry, request: ClaudetteRequest, context: RequestContext
    ) -> ClaudetteResponse:
        async with self.attempt(entry.backend, request, context) as attempt:
            response = await attempt.within_deadline(entry.backend.send(request), "answer")
            attempt.succeeded(response)
        return response

    async def stream(self, request: ClaudetteRequest) -> AsyncGenerator[StreamChunk, None]:
        """Stream the answer to ``request``; the last chunk carries the whole response.

        Falls back to another backend before the first chunk reaches the caller. A failure
        after it raises :class:`StreamInterruptedError` with the partial text, unless
        ``RouterOptions.stream_continuation`` is on: then another backend continues the
        answer (see :mod:`claudette.router.continuation`). Closing the iterator early
        cancels the call without counting it as a failure.
        """
        self._start_background_tasks()
        counters = self.counters
        counters.requests += 1
        context = self._observation.start(request, stream=True)
        fallback = self._fallback(request, context)
        if self.options.stream_continuation:
            chunks = self._continued_stream(request, fallback, Continuation(request), context)
        else:
            chunks = self._stream(request, fallback, context)
        try:
            async with aclosing(chunks):
                async for chunk in chunks:
                    if chunk.response is not None:
                        counters.successes += 1
                        self._observation.end(context, chunk.response, None)
                        # The one answer of the stream (continued or not): its row is
                        # written before the caller sees it.
                        if self.ledger is not None:
                            self.ledger.record(chunk.response)
                    yield chunk
        except (GeneratorExit, asyncio.CancelledError) as left:
            self._observation.end(context, None, left)
            raise  # the caller stopped listening: not a failure
        except BaseException as error:
            counters.failures += 1
            self._observation.end(context, None, error)
            raise

    async def _stream(
        self, request: ClaudetteRequest, fallback: FallbackSequence, context: RequestContext
    ) -> AsyncGenerator[StreamChunk, None]:
        """``stream`` without continuation: no fallback once a chunk reached the caller."""
        while True:
            entry = await fallback.next()
            sent = self.plugins.preprocess_request(request, entry.backend)
            stream = BackendStream(entry.backend, sent)
            try:
                async with self.attempt(entry.backend, sent, context) as attempt, stream:
                    chunk = await attempt.within_deadline(stream.first(), "first chunk")
                    if context.first_chunk_ms is None:
                        context.first_chunk_ms = context.elapsed_ms
                    while chunk.response is None:
                        stream.passed_on(chunk)
                        yield chunk
                        chunk = await stream.next()
                    final = chunk.response
                    attempt.succeeded(final)
            except BackendError as error:
                if stream.delivered:
                    raise stream.interrupted(error) from error
                fallback.failed(entry.backend, error)
                continue
            yield attrs.evolve(chunk, response=fallback.annotate(final))
            return

    async def _continued_stream(
        self,
        request: ClaudetteRequest,
        fallback: FallbackSequence,
        continuation: Continuation,
        context: RequestContext,
    ) -> AsyncGenerator[StreamChunk, None]:
        """``stream`` with continuation: a backend failing after text reached the caller is
        followed by another that continues the text."""
        try:
            while True:
                entry = await fallback.next()
                asked = continuation.request_for_rest() if continuation.started else request
                sent = self.plugins.preprocess_request(asked, entry.backend)
                stream = BackendStream(entry.backend, sent)
                try:
                    async with self.attempt(entry.backend, sent, context) as attempt, stream:
                        chunk = await attempt.within_deadline(stream.first(), "first chunk")
                        if context.first_chunk_ms is None:
                            context.first_chunk_ms = context.elapsed_ms
                        while chunk.response is None:
                            text = continuation.passed_on(chunk.text)
                            if text or not chunk.text:
                                chunk = attrs.evolve(chunk, text=text) if text != chunk.text else chunk
                                stream.passed_on(chunk)
                                yield chunk
                            chunk = await stream.next()
                        final = chunk.response
                        attempt.succeeded(final)
                except BackendError as error:
                    if stream.delivered:
                        continuation.failed(entry.backend.name, error)
                    fallback.failed(entry.backend, error)
                    continue
                text = continuation.passed_on(chunk.text)
                response = fallback.annotate(final)
                if continuation.started:
                    response = continuation.joined(response)
                yield attrs.evolve(chunk, text=text, response=response)
                return
        except (BackendError, NoBackendAvailableError) as error:
            if not continuation.text:
                raise  # nothing reached the caller: the error as route_request raises it
            raise continuation.interrupted(error) from error

    # -- adaptive weights and background tasks ----------------------------------------------

    def _start_background_tasks(self) -> None:
        adaptive, self._adaptive_to_start = self._adaptive_to_start, None
        if adaptive is not None:
            task = asyncio.get_running_loop().create_task(adaptive.run(self.adapt_weights))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def adapt_weights(self) -> tuple[float, float, float]:
        """Adapt the scoring weights to what was observed since the last adaptation.

        Runs by itself every ``[router.adaptive] interval`` seconds when adaptive weights
        are configured; call it from your own timer otherwise (the defaults of
        :class:`~claudette.types.AdaptiveOptions` apply). Returns the new (cost,
        latency, availability) weights, which ``stats()["patterns"]["adaptive"]`` shows.
        """
        adaptive = self._adaptive
        if adaptive is None:
            from claudette.adaptive import AdaptiveWeights
            from claudette.types import AdaptiveOptions

            adaptive = self._adaptive = AdaptiveWeights(AdaptiveOptions(), self.options)
        cost, latency, availability = adaptive.adapt(self)
        self.options = attrs.evolve(
            self.options, cost_weight=cost, latency_weight=latency, availability_weight=availability
        )
        logger.info(
            "adapted weights: cost %.2f, latency %.2f, availability %.2f", cost, latency, availability
        )
        return cost, latency, availability

    # -- inspection and lifetime -----------------------------------------------------------------

    def breaker_status(self) -> dict[str, str]:
        """Each backend's breaker state (``closed``, ``open``, ``half_open``)."""
        return {name: e.breaker.state.value for name, e in sorted(self._entries.items())}

    def backend_infos(self) -> list[BackendInfo]:
        """A :class:`BackendInfo` per backend, in tie-break order."""
        return [e.backend.get_info() for e in self._ordered]

    def stats(self) -> dict[str, Any]:
        """A JSON-ready snapshot: router totals and, per backend, what the router observed."""
        patterns: dict[str, Any] = {}
        if self.options.strategy != "score":
            patterns["strategy"] = self.options.strategy
        patterns.update(self._gates.snapshot())
        if self._cache is not None:
            patterns["cache"] = self._cache.cache.snapshot()
        if self._adaptive is not None:
            patterns["adaptive"] = self._adaptive.snapshot(self)
        return stats_snapshot(self._ordered, self.counters, patterns, time.monotonic())

    async def check_health(self) -> dict[str, bool]:
        """Run every backend's health check now (concurrently); returns name → healthy."""
        names = list(self._entries)
        results = await asyncio.gather(*(self._entries[n].backend.refresh_health() for n in names))
        return dict(zip(names, results, strict=True))

    async def aclose(self) -> None:
        """Stop the background tasks; close every backend's connections and the state store."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._health.aclose()
        for entry in self._entries.values():
            await entry.backend.aclose()
        await self.store.aclose()
        if self.ledger is not None:
            await asyncio.to_thread(self.ledger.flush, LEDGER_FLUSH_TIMEOUT)

    async def __aenter__(self) -> BackendRouter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

