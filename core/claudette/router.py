"""The :class:`BackendRouter`: choose a backend, call it under its breaker, fall back.

One request goes through these steps (see ``docs/routing.md``):

1. select: a forced backend if usable, else every usable backend (enabled, last health
   check not failed, not cooling down after a rate limit, breaker allowing a call) is
   scored through the ``claudette_score_backend`` hook; lowest wins, ties go to the lower
   priority number, then the name;
2. call it under its circuit breaker, bounded by the backend's ``timeout``;
3. on a retryable failure, exclude it and go back to 1 (each backend at most once, at most
   ``max_attempts`` in all); a non-retryable failure is raised at once;
4. record the outcome in the state store (latency, failures, cool-down, breaker).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Iterable
from typing import TYPE_CHECKING, Any

import attrs

from claudette._deadline import fail_after
from claudette._log import logger
from claudette.backend import DEFAULT_OUTPUT_TOKENS
from claudette.breaker import CircuitBreaker, CircuitBreakerState
from claudette.errors import (
    BackendError,
    BackendTimeoutError,
    BudgetExceededError,
    ClaudetteError,
    NoBackendAvailableError,
    StreamInterruptedError,
)
from claudette.scoring import DefaultScoring
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
    from claudette.budget import SpendLedger
    from claudette.cache import ResponseCache
    from claudette.plugins import ClaudettePlugins
    from claudette.ratelimit import RateLimiter
    from claudette.scoring import ScoreParts
    from claudette.state import BackendStats

__all__ = ["BackendRouter", "Candidate", "RouterCounters"]

_CLOSED = CircuitBreakerState.CLOSED
#: The built-in scorer's function (pure: selection may skip it for a lone candidate).
_default_score = DefaultScoring.claudette_score_backend
#: Skip reasons of the budget start with this.
_OVER_BUDGET = "over budget"


@attrs.define
class RouterCounters:
    """Totals since the router started (one process's view).

    :param requests: requests routed (``route_request`` and ``stream`` calls).
    :param successes: requests answered.
    :param failures: requests that ended in an error.
    :param attempts: backend calls made (a request with fallbacks makes several).
    :param fallbacks: attempts made after an earlier attempt of the same request failed.
    :param cost_eur: money spent on answered attempts.
    :param tokens_input: prompt tokens of answered attempts.
    :param tokens_output: generated tokens of answered attempts.
    :param retries: attempts repeated on the same backend (``max_retries``).
    :param cache_hits: requests answered from the response cache.
    """

    requests: int = 0
    successes: int = 0
    failures: int = 0
    attempts: int = 0
    fallbacks: int = 0
    cost_eur: float = 0.0
    tokens_input: int = 0
    tokens_output: int = 0
    retries: int = 0
    cache_hits: int = 0


@attrs.frozen
class Candidate:
    """How selection saw one backend for one request (``BackendRouter.explain``).

    :param name: the backend.
    :param score: its score, None when it was skipped.
    :param parts: the seed formula's components (cost, latency, availability), if computed.
    :param skipped: why it was not considered, None when it was.
    :param chosen: True for the backend selection picked.
    """

    name: str
    score: float | None
    parts: ScoreParts | None
    skipped: str | None
    chosen: bool = False


class BackendRouter:
    """Routes requests to the best usable backend and survives their failures.

    :param options: weights and limits; the seed defaults when omitted.
    :param plugins: the plugin manager whose hooks score backends and set breaker policies;
        the process's loaded manager (:func:`claudette.get_plugin_manager`) when omitted.
    :param store: where per-backend state lives; an in-memory store when omitted.
    """

    def __init__(
        self,
        options: RouterOptions | None = None,
        *,
        plugins: ClaudettePlugins | None = None,
        store: StateStore | None = None,
    ) -> None:
        self.options = options or RouterOptions()
        if plugins is None:
            from claudette.plugins import get_plugin_manager

            plugins = get_plugin_manager()
        self.plugins = plugins
        self.store: StateStore = store or InMemoryStateStore(self.options.latency_window)
        self.counters = RouterCounters()
        self._backends: dict[str, BaseBackend] = {}
        self._breakers: dict[str, CircuitBreaker] = {}
        # (backend, stats, breaker) sorted by (priority, name): the tie-break order.
        self._ordered: list[tuple[BaseBackend, BackendStats, CircuitBreaker]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._configure_patterns()
        # True once a breaker needs an async step to leave OPEN (a shared store's breaker).
        self._async_acquire = False
        # Cuts attempts at their deadline (one timer for all, on the loop that runs them).

    # -- registration ---------------------------------------------------------------------

    def register_backend(self, backend: BaseBackend) -> None:
        """Add a backend; its settings are validated and its breaker policy chosen by hook.

        :raises ValueError: when a backend of that name is already registered.
        :raises ConfigError: when its settings are invalid.
        """
        if backend.name in self._backends:
            raise ValueError(f"a backend named {backend.name!r} is already registered")
        backend.validate_config()
        stats = self.store.stats(backend.name)
        backend.stats = stats
        breaker = self.store.breaker(backend.name, self.plugins.breaker_policy(backend))
        breaker.on_transition = self._on_transition
        if hasattr(breaker, "acquire_async"):
            self._async_acquire = True
        self._backends[backend.name] = backend
        self._breakers[backend.name] = breaker
        if backend.settings.rpm or backend.settings.tpm:
            self._add_limiter(backend)
        self._reorder()

    def unregister_backend(self, name: str) -> BaseBackend:
        """Remove a backend and forget its state; returns it (not closed)."""
        backend = self._backends.pop(name)
        self._breakers.pop(name, None)
        if self._limiters.pop(name, None) is not None:
            self._gated = bool(self._limiters) or self._ledger is not None
        self.store.forget(name)
        self._reorder()
        return backend

    def _reorder(self) -> None:
        self._ordered = sorted(
            (
                (b, b.stats, self._breakers[b.name])
                for b in self._backends.values()
            ),
            key=lambda t: (t[0].settings.priority, t[0].name),
        )

    @property
    def backends(self) -> dict[str, BaseBackend]:
        """The registered backends by name (a copy)."""
        return dict(self._backends)

    def get_backend(self, name: str) -> BaseBackend:
        """The backend called ``name``.

        :raises KeyError: when none is registered under that name.
        """
        return self._backends[name]

    def breaker(self, name: str) -> CircuitBreaker:
        """The circuit breaker of backend ``name``."""
        return self._breakers[name]

    def _on_transition(
        self, breaker: CircuitBreaker, old: CircuitBreakerState, new: CircuitBreakerState
    ) -> None:
        logger.info("circuit breaker of %r: %s -> %s", breaker.name, old.value, new.value)
        self.plugins.breaker_transition(breaker.name, old.value, new.value)

    # -- selection --------------------------------------------------------------------------

    def _skip_reason(
        self, backend: BaseBackend, stats: BackendStats, breaker: CircuitBreaker, now: float
    ) -> str | None:
        if not backend.settings.enabled:
            return "disabled"
        if stats.healthy is False:
            return "failed its last health check"
        if now < stats.cooldown_until:
            return f"rate limited for {stats.cooldown_until - now:.1f}s more"
        if breaker._state is not _CLOSED and not breaker.allows_request():
            state = breaker.state
            if state is CircuitBreakerState.OPEN:
                return f"circuit breaker open ({breaker.seconds_until_probe:.0f}s until a probe)"
            return "circuit breaker half-open, probe already in flight"
        return None

    def _maybe_refresh_health(self, backend: BaseBackend, now: float) -> None:
        if backend.health_is_stale(now) and (
            backend._health_task is None or backend._health_task.done()
        ):
            task = asyncio.get_running_loop().create_task(backend.refresh_health())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def _select(
        self,
        request: ClaudetteRequest,
        exclude: Iterable[str] | None,
        reasons: dict[str, str] | None,
    ) -> BaseBackend:
        now = time.monotonic()
        health = self.options.health_checks
        forced = request.backend
        if forced is not None:
            backend = self._backends.get(forced)
            if backend is None:
                known = ", ".join(sorted(self._backends)) or "none"
                raise NoBackendAvailableError(
                    f"forced backend {forced!r} is not registered (registered: {known})"
                )
            if health:
                self._maybe_refresh_health(backend, now)
            if exclude and forced in exclude:
                tried = (reasons or {}).get(forced, "already tried for this request")
                raise NoBackendAvailableError(f"forced backend {forced!r} failed", {forced: tried})
            why: str | None = self._skip_reason(backend, backend.stats, self._breakers[forced], now)
            if why is None and self._gated:
                why = self._gate_reason(backend, request, now)
                if why is not None and why.startswith(_OVER_BUDGET):
                    raise self._budget_error({forced: why})
            if why is not None:
                raise NoBackendAvailableError(
                    f"forced backend {forced!r} is not usable", {forced: why}
                )
            return backend

        score = self._score
        options = self.options
        gated = self._gated
        if gated and self._budget_closed():
            raise self._budget_error(None)
        region = request.region or options.region
        # The built-in scorer is a pure function: a lone usable backend wins without it,
        # so the first candidate is scored only once a second one shows up.
        builtin = getattr(score, "__func__", None) is _default_score
        lazy = region is None and builtin
        pending: tuple[BaseBackend, BackendStats] | None = None
        best: BaseBackend | None = None
        best_score = 0.0
        local: BaseBackend | None = None
        local_score = 0.0
        skipped: dict[str, str] | None = None
        for backend, stats, breaker in self._ordered:
            if exclude and backend.name in exclude:
                continue
            if health:
                self._maybe_refresh_health(backend, now)
            if (
                breaker._state is _CLOSED
                and now >= stats.cooldown_until
                and backend.settings.enabled
                and stats.healthy is not False
            ):
                why = None  # the usual case, without a call
            else:
                why = self._skip_reason(backend, stats, breaker, now)
            if why is None and gated:
                why = self._gate_reason(backend, request, now)
            if why is not None:
                if skipped is None:
                    skipped = {}
                skipped[backend.name] = why
                continue
            if lazy:
                if best is None:
                    if pending is None:
                        pending = (backend, stats)
                        continue
                    first, first_stats = pending
                    best_score = score(first, request, first_stats, options)
                    best = first
            if builtin:  # its parameter order is known: a positional call is cheaper
                s = score(backend, request, stats, options)
            else:
                s = score(backend=backend, request=request, stats=stats, options=options)
            if s is None:
                s = 0.0
            if best is None or s < best_score:
                best, best_score = backend, s
            if region is not None and backend.settings.region == region and (
                local is None or s < local_score
            ):
                local, local_score = backend, s
        if best is None and pending is not None:
            best = pending[0]
        if local is not None:
            return local
        if best is None:
            all_reasons = dict(reasons or {})
            if skipped:
                all_reasons.update(skipped)
            if not self._backends:
                raise NoBackendAvailableError("no backend is registered")
            if gated and skipped and any(w.startswith(_OVER_BUDGET) for w in skipped.values()):
                raise self._budget_error(all_reasons)
            raise NoBackendAvailableError("no usable backend left", all_reasons)
        return best

    async def select_backend(
        self, request: ClaudetteRequest, exclude_backends: Iterable[str] = ()
    ) -> BaseBackend:
        """The backend that should answer ``request`` now.

        :param exclude_backends: names not to consider (already tried).
        :raises NoBackendAvailableError: when none is usable; ``reasons`` says why each was skipped.
        """
        return self._select(request, set(exclude_backends) or None, None)

    def explain(self, request: ClaudetteRequest) -> list[Candidate]:
        """Every backend with its score components or the reason it was skipped.

        Uses the seed formula's components for display; the score itself comes from the
        hooks, exactly as selection computes it.
        """
        from claudette.scoring import score_parts

        now = time.monotonic()
        out: list[Candidate] = []
        for backend, stats, breaker in self._ordered:
            if request.backend is not None and backend.name != request.backend:
                out.append(Candidate(backend.name, None, None, "another backend is forced"))
                continue
            why = self._skip_reason(backend, stats, breaker, now)
            if why is None and self._gated:
                why = self._gate_reason(backend, request, now)
            if why is not None:
                out.append(Candidate(backend.name, None, None, why))
                continue
            parts = score_parts(backend, request, stats, self.options, now)
            s = self._score(backend=backend, request=request, stats=stats, options=self.options)
            out.append(Candidate(backend.name, s, parts, None))
        try:
            chosen = self._select(request, None, None).name
        except NoBackendAvailableError:
            chosen = None
        return [attrs.evolve(c, chosen=True) if c.name == chosen else c for c in out]

    def _cooldown_wait(self, exclude: set[str] | None) -> float | None:
        """Seconds until the first backend that is only cooling down comes back, if any."""
        now = time.monotonic()
        wait: float | None = None
        for backend, stats, breaker in self._ordered:
            if exclude and backend.name in exclude:
                continue
            if not backend.settings.enabled or stats.healthy is False:
                continue
            if now >= stats.cooldown_until or not breaker.allows_request():
                continue
            left = stats.cooldown_until - now
            if wait is None or left < wait:
                wait = left
        return wait

    # -- one attempt ----------------------------------------------------------------------------

    def _record_failure(
        self,
        backend: BaseBackend,
        breaker: CircuitBreaker,
        request: ClaudetteRequest,
        error: BackendError,
        started: float,
    ) -> None:
        stats = backend.stats
        latency_ms = (time.perf_counter() - started) * 1000.0
        if breaker.record_error(error):
            stats.record_failure()
        else:
            stats.record_outcome_without_fault()
        if error.retry_after:
            stats.start_cooldown(error.retry_after)
        if self.plugins.has_attempt_observers:
            self.plugins.after_attempt(backend, request, None, error, latency_ms)

    def _record_success(
        self,
        backend: BaseBackend,
        breaker: CircuitBreaker,
        request: ClaudetteRequest,
        response: ClaudetteResponse,
        latency_ms: float,
    ) -> None:
        breaker.record_success()
        backend.stats.record_success(latency_ms)
        c = self.counters
        c.cost_eur += response.cost_eur
        c.tokens_input += response.tokens_input
        c.tokens_output += response.tokens_output
        if self.plugins.has_attempt_observers:
            self.plugins.after_attempt(backend, request, response, None, latency_ms)

    async def _attempt(
        self, backend: BaseBackend, breaker: CircuitBreaker, request: ClaudetteRequest
    ) -> ClaudetteResponse:
        stats = backend.stats
        gate = self._gate_acquire(backend, request) if self._gated else None
        stats.in_flight += 1
        self.counters.attempts += 1
        started = time.perf_counter()
        response: ClaudetteResponse | None = None
        try:
            with fail_after(backend.settings.timeout):
                response = await backend.send(request)
        except BackendError as error:
            self._record_failure(backend, breaker, request, error, started)
            raise
        except TimeoutError:
            timed_out = BackendTimeoutError(
                f"no answer within {backend.settings.timeout:g}s", backend.name, True
            )
            self._record_failure(backend, breaker, request, timed_out, started)
            raise timed_out from None
        except asyncio.CancelledError:
            breaker.release()
            raise
        except Exception as exc:
            from claudette.http import error_from_exception

            translated = error_from_exception(backend.name, exc)
            self._record_failure(backend, breaker, request, translated, started)
            raise translated from exc
        finally:
            stats.in_flight -= 1
            if gate is not None:
                self._gate_settle(gate, response)
        latency_ms = (time.perf_counter() - started) * 1000.0
        self._record_success(backend, breaker, request, response, latency_ms)
        return response

    # -- routing ------------------------------------------------------------------------------

    def _acquire_now(
        self,
        request: ClaudetteRequest,
        exclude: set[str] | None,
        reasons: dict[str, str] | None,
    ) -> tuple[BaseBackend, CircuitBreaker] | None:
        """The usual turn, without a coroutine: the selected backend and its breaker when
        that breaker is closed (a closed breaker always lets the call through).

        None otherwise, and :meth:`_next_backend` takes over: when nothing is usable now
        (it may wait out a cool-down) or the breaker is open or half-open (it may have to
        ask a shared store who probes). It selects again; that is the rare path.
        """
        try:
            backend = self._select(request, exclude, reasons)
        except NoBackendAvailableError:
            return None
        breaker = self._breakers[backend.name]
        return (backend, breaker) if breaker._state is _CLOSED else None

    async def _next_backend(
        self,
        request: ClaudetteRequest,
        exclude: set[str] | None,
        reasons: dict[str, str] | None,
        waited: list[float],
    ) -> tuple[BaseBackend, CircuitBreaker]:
        """Select and acquire a backend, waiting out brief cool-downs within the budget."""
        while True:
            try:
                backend = self._select(request, exclude, reasons)
            except NoBackendAvailableError:
                wait = None if request.backend else self._cooldown_wait(exclude)
                budget = self.options.max_cooldown_wait - waited[0]
                if wait is None or wait > budget:
                    raise
                waited[0] += wait
                await asyncio.sleep(wait)
                continue
            breaker = self._breakers[backend.name]
            if self._async_acquire and breaker._state is not _CLOSED:
                # A shared breaker asks its store who may probe (one prober everywhere).
                acquired: bool = await breaker.acquire_async()  # type: ignore[attr-defined]
            else:
                acquired = breaker.try_acquire()
            if acquired:
                return backend, breaker
            # Lost the half-open probe slot to a concurrent request: try the next one.
            if exclude is None:
                exclude = set()
            exclude.add(backend.name)

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
        if self._adaptive_pending:
            self._start_adaptive()
        if self._cache is not None and request.use_cache:
            return await self._route_cached(request)
        return await self._route(request)

    async def _route(self, request: ClaudetteRequest) -> ClaudetteResponse:
        """``route_request`` without the cache."""
        counters = self.counters
        processors = self.plugins.has_request_processors
        retry_wait = [0.0]
        counters.requests += 1
        exclude: set[str] | None = None
        reasons: dict[str, str] | None = None
        waited = [0.0]
        last_error: BackendError | None = None
        try:
            for attempt in range(self.options.max_attempts):
                acquired = self._acquire_now(request, exclude, reasons)
                backend, breaker = (
                    acquired
                    if acquired is not None
                    else await self._next_backend(request, exclude, reasons, waited)
                )
                if attempt:
                    counters.fallbacks += 1
                try:
                    sent = self.plugins.preprocess_request(request, backend) if processors else request
                    if backend.settings.max_retries:
                        response = await self._attempt_with_retries(backend, breaker, sent, retry_wait)
                    else:
                        response = await self._attempt(backend, breaker, sent)
                except BackendError as error:
                    last_error = error
                    if not error.retryable or not self.options.fallback_enabled or request.backend:
                        raise
                    if exclude is None:
                        exclude, reasons = set(), {}
                    assert reasons is not None
                    exclude.add(backend.name)
                    reasons[backend.name] = str(error)
                    continue
                counters.successes += 1
                if attempt:
                    response = attrs.evolve(
                        response,
                        metadata={**response.metadata, "failed_backends": sorted(exclude or ())},
                    )
                if processors:
                    response = self.plugins.postprocess_response(request, response)
                return response
            raise NoBackendAvailableError(
                f"all {self.options.max_attempts} attempts failed", reasons
            ) from last_error
        except NoBackendAvailableError as exc:
            counters.failures += 1
            if last_error is not None and exc.__cause__ is None:
                raise NoBackendAvailableError(exc.message, {**(reasons or {}), **exc.reasons}) from last_error
            raise
        except BaseException:
            counters.failures += 1
            raise

    async def stream(self, request: ClaudetteRequest) -> AsyncGenerator[StreamChunk, None]:
        """Stream the answer to ``request``; the last chunk carries the whole response.

        Falls back to another backend only before the first chunk reaches the caller; a
        failure after it raises :class:`StreamInterruptedError` with the partial text.
        Closing the iterator early cancels the call without counting it as a failure.
        """
        # One generator for the fallback loop and the attempt inside it: every chunk passes
        # through each generator layer, so a generator per attempt would cost on each.
        if self._adaptive_pending:
            self._start_adaptive()
        counters = self.counters
        counters.requests += 1
        processors = self.plugins.has_request_processors
        exclude: set[str] | None = None
        reasons: dict[str, str] | None = None
        waited = [0.0]
        last_error: BackendError | None = None
        try:
            for attempt in range(self.options.max_attempts):
                acquired = self._acquire_now(request, exclude, reasons)
                backend, breaker = (
                    acquired
                    if acquired is not None
                    else await self._next_backend(request, exclude, reasons, waited)
                )
                if attempt:
                    counters.fallbacks += 1
                sent = self.plugins.preprocess_request(request, backend) if processors else request
                stats = backend.stats
                gate = self._gate_acquire(backend, sent) if self._gated else None
                final: ClaudetteResponse | None = None
                stats.in_flight += 1
                counters.attempts += 1
                started = time.perf_counter()
                chunks = backend.stream(sent)
                parts: list[str] = []
                delivered = False
                settled = False
                try:
                    try:
                        with fail_after(backend.settings.timeout):
                            chunk = await chunks.__anext__()
                    except StopAsyncIteration:
                        raise BackendError(
                            "the stream ended before any chunk", backend.name, True
                        ) from None
                    except TimeoutError:
                        raise BackendTimeoutError(
                            f"no first chunk within {backend.settings.timeout:g}s", backend.name, True
                        ) from None
                    while chunk.response is None:
                        if chunk.text:
                            parts.append(chunk.text)
                        delivered = True
                        yield chunk
                        try:
                            chunk = await chunks.__anext__()
                        except StopAsyncIteration:
                            raise BackendError(
                                "the stream ended without its final response", backend.name, True
                            ) from None
                    final = chunk.response
                    settled = True
                    latency_ms = (time.perf_counter() - started) * 1000.0
                    self._record_success(backend, breaker, sent, final, latency_ms)
                except (GeneratorExit, asyncio.CancelledError):
                    if not settled:
                        settled = True
                        breaker.release()
                    raise
                except Exception as exc:
                    if settled:
                        raise
                    from claudette.http import error_from_exception

                    error = error_from_exception(backend.name, exc)
                    self._record_failure(backend, breaker, sent, error, started)
                    if delivered:
                        raise StreamInterruptedError(
                            f"stream failed after {len(parts)} chunks: {error.message}",
                            backend.name,
                            error.retryable,
                            error.status_code,
                            error.retry_after,
                            partial_text="".join(parts),
                            error_type=error.error_type,
                            request_id=error.request_id,
                        ) from exc
                    last_error = error
                    if not error.retryable or not self.options.fallback_enabled or request.backend:
                        if error is exc:
                            raise
                        raise error from exc
                    if exclude is None:
                        exclude, reasons = set(), {}
                    assert reasons is not None
                    exclude.add(backend.name)
                    reasons[backend.name] = str(error)
                    continue
                finally:
                    stats.in_flight -= 1
                    if gate is not None:
                        self._gate_settle(gate, final)
                    close = getattr(chunks, "aclose", None)  # async generators; plain iterators have none
                    if close is not None:
                        await close()
                counters.successes += 1
                yield chunk
                return
            raise NoBackendAvailableError(
                f"all {self.options.max_attempts} attempts failed", reasons
            ) from last_error
        except (GeneratorExit, asyncio.CancelledError):
            raise  # the caller stopped listening: not a failure
        except BaseException:
            counters.failures += 1
            raise

    # -- optional patterns (docs/patterns.md) ------------------------------------------------
    # Each is off unless configured; an unconfigured one costs the request path one check.

    def _configure_patterns(self) -> None:
        """Precompute what the configured patterns need (strategy, cache, budget, adaptive)."""
        o = self.options
        if o.strategy == "score":
            self._score: Any = self.plugins.score_backend
        else:
            from claudette.balancing import STRATEGIES

            self._score = STRATEGIES[o.strategy]
        self._hook_score: Any = self._score if o.strategy == "score" else None
        self._limiters: dict[str, RateLimiter] = {}
        self._cache: ResponseCache | None = None
        self._cache_pending: dict[str, asyncio.Future[Any]] = {}
        if o.cache is not None and o.cache.enabled:
            factory = getattr(self.store, "response_cache", None)
            if factory is not None:
                self._cache = factory(o.cache)
            else:
                from claudette.cache import InMemoryResponseCache

                self._cache = InMemoryResponseCache(o.cache)
        self._ledger: SpendLedger | None = None
        if o.budget is not None and o.budget.enabled:
            factory = getattr(self.store, "spend_ledger", None)
            if factory is not None:
                self._ledger = factory(o.budget)
            else:
                from claudette.budget import SpendLedger

                self._ledger = SpendLedger(o.budget)
        self._gated = self._ledger is not None
        self._adaptive: AdaptiveWeights | None = None
        if o.adaptive is not None and o.adaptive.enabled:
            from claudette.adaptive import AdaptiveWeights

            self._adaptive = AdaptiveWeights(o.adaptive, o)
        self._adaptive_pending = self._adaptive is not None

    def _add_limiter(self, backend: BaseBackend) -> None:
        s = backend.settings
        factory = getattr(self.store, "rate_limiter", None)
        if factory is not None:
            limiter = factory(backend.name, s.rpm, s.tpm)
        else:
            from claudette.ratelimit import RateLimiter

            limiter = RateLimiter(s.rpm, s.tpm)
        self._limiters[backend.name] = limiter
        backend.stats.rate_limits = limiter
        self._gated = True

    @staticmethod
    def _tokens_needed(backend: BaseBackend, request: ClaudetteRequest) -> int:
        tokens_in = -(-request.text_length // 4)
        return tokens_in + (request.options.max_tokens or backend.settings.max_tokens or DEFAULT_OUTPUT_TOKENS)

    def _gate_reason(self, backend: BaseBackend, request: ClaudetteRequest, now: float) -> str | None:
        """Why the rate limit or the budget keeps ``backend`` from taking ``request``."""
        limiter = self._limiters.get(backend.name) if self._limiters else None
        if limiter is not None:
            why = limiter.blocked(self._tokens_needed(backend, request), now)
            if why is not None:
                return why
        ledger = self._ledger
        if ledger is not None and not backend.settings.is_free:
            if not ledger.allows(backend.estimate_request_cost(request)):
                return (
                    f"{_OVER_BUDGET}: EUR {ledger.committed:.4f} of {ledger.options.limit_eur:g} "
                    f"committed this {ledger.options.period}"
                )
        return None

    def _budget_closed(self) -> bool:
        ledger = self._ledger
        return (
            ledger is not None and ledger.options.on_exhausted == "error" and ledger.exhausted()
        )

    def _budget_error(self, reasons: dict[str, str] | None) -> BudgetExceededError:
        ledger = self._ledger
        assert ledger is not None
        o = ledger.options
        return BudgetExceededError(
            f"the budget of EUR {o.limit_eur:g} per {o.period} is spent",
            reasons,
            spent_eur=ledger.committed,
            limit_eur=o.limit_eur,
        )

    def _gate_acquire(
        self, backend: BaseBackend, request: ClaudetteRequest
    ) -> tuple[RateLimiter | None, list[float] | None, float]:
        """Count a starting call against its rate limit and reserve its budget."""
        limiter = self._limiters.get(backend.name) if self._limiters else None
        event = limiter.acquire(self._tokens_needed(backend, request)) if limiter is not None else None
        reserved = 0.0
        ledger = self._ledger
        if ledger is not None and not backend.settings.is_free:
            reserved = ledger.reserve(backend.estimate_request_cost(request))
        return limiter, event, reserved

    def _gate_settle(
        self,
        gate: tuple[RateLimiter | None, list[float] | None, float],
        response: ClaudetteResponse | None,
    ) -> None:
        """A call ended: real token usage for the limiter, real cost for the budget."""
        limiter, event, reserved = gate
        if limiter is not None and event is not None and response is not None:
            limiter.settle(event, response.tokens_input + response.tokens_output)
        if self._ledger is not None:
            self._ledger.settle(reserved, response.cost_eur if response is not None else 0.0)

    async def _attempt_with_retries(
        self,
        backend: BaseBackend,
        breaker: CircuitBreaker,
        request: ClaudetteRequest,
        slept: list[float],
    ) -> ClaudetteResponse:
        """``_attempt`` repeated on retryable failures with backoff (``max_retries``).

        Each failure is recorded (the breaker sees it); a retry happens only while the
        breaker, rate limit and cool-down allow it and the request's backoff budget
        (``max_retry_wait``) lasts, else the last error goes to the fallback chain.
        """
        from claudette.retry import backoff_delay

        max_retries = backend.settings.max_retries or 0
        retry = 0
        while True:
            try:
                return await self._attempt(backend, breaker, request)
            except BackendError as error:
                if not error.retryable or retry >= max_retries:
                    raise
                delay = backoff_delay(retry, error.retry_after)
                if delay > self.options.max_retry_wait - slept[0]:
                    raise
                slept[0] += delay
                await asyncio.sleep(delay)
                left = backend.stats.cooldown_until - time.monotonic()
                if 0 < left <= 0.05:  # the timer fired a hair before the cool-down ended
                    await asyncio.sleep(left + 0.001)
                now = time.monotonic()
                if (
                    self._skip_reason(backend, backend.stats, breaker, now) is not None
                    or (self._gated and self._gate_reason(backend, request, now) is not None)
                    or not breaker.try_acquire()
                ):
                    raise
                retry += 1
                self.counters.retries += 1
                logger.info("retrying %r (retry %d of %d) after %s", backend.name, retry, max_retries, error)

    async def _route_cached(self, request: ClaudetteRequest) -> ClaudetteResponse:
        """Answer from the cache, or route once for all identical concurrent requests."""
        from claudette.cache import cache_key, entry_ttl, is_time_sensitive

        cache = self._cache
        assert cache is not None
        key = cache_key(request)
        try:
            hit = await cache.get(key)
        except Exception:
            logger.exception("response cache lookup failed; routing the request")
            hit = None
        if hit is not None:
            return self._cache_hit(hit)
        pending = self._cache_pending.get(key)
        if pending is not None:
            # An identical request is being answered: share its outcome.
            response, error = await asyncio.shield(pending)
            if error is not None:
                self.counters.requests += 1
                self.counters.failures += 1
                raise error
            if response is not None:
                return self._cache_hit(response)
            return await self._route(request)  # it was cancelled: go on our own
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._cache_pending[key] = future
        outcome: tuple[ClaudetteResponse | None, BaseException | None] = (None, None)
        try:
            response = await self._route(request)
            outcome = (response, None)
        except ClaudetteError as exc:
            outcome = (None, exc)
            raise
        finally:
            self._cache_pending.pop(key, None)
            future.set_result(outcome)
        options = self.options.cache
        assert options is not None
        try:
            await cache.set(
                key,
                response,
                entry_ttl(options, request, response),
                extendable=not is_time_sensitive(request),
            )
        except Exception:
            logger.exception("response cache store failed; the answer is returned uncached")
        return response

    def _cache_hit(self, response: ClaudetteResponse) -> ClaudetteResponse:
        c = self.counters
        c.requests += 1
        c.successes += 1
        c.cache_hits += 1
        return attrs.evolve(response, cache_hit=True, cost_eur=0.0, latency_ms=0.0)

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
        logger.info("adapted weights: cost %.2f, latency %.2f, availability %.2f", cost, latency, availability)
        return cost, latency, availability

    def _start_adaptive(self) -> None:
        self._adaptive_pending = False
        task = asyncio.get_running_loop().create_task(self._adapt_forever())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _adapt_forever(self) -> None:
        adaptive = self._adaptive
        assert adaptive is not None
        while True:
            await asyncio.sleep(adaptive.options.interval)
            try:
                self.adapt_weights()
            except Exception:  # never let a bad observation stop adapting
                logger.exception("adapting the weights failed")

    def _patterns_snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.options.strategy != "score":
            out["strategy"] = self.options.strategy
        if self._limiters:
            out["rate_limits"] = {n: lim.snapshot() for n, lim in sorted(self._limiters.items())}
        if self._cache is not None:
            out["cache"] = self._cache.snapshot()
        if self._ledger is not None:
            out["budget"] = self._ledger.snapshot()
        if self._adaptive is not None:
            out["adaptive"] = self._adaptive.snapshot(self)
        return out

    # -- inspection and lifetime -----------------------------------------------------------------

    def breaker_status(self) -> dict[str, str]:
        """Each backend's breaker state (``closed``, ``open``, ``half_open``)."""
        return {name: b.state.value for name, b in sorted(self._breakers.items())}

    def backend_infos(self) -> list[BackendInfo]:
        """A :class:`BackendInfo` per backend, in tie-break order."""
        return [b.get_info() for b, _, _ in self._ordered]

    def stats(self) -> dict[str, Any]:
        """A JSON-ready snapshot: router totals and, per backend, what the router observed."""
        backends: dict[str, Any] = {}
        for backend, stats, breaker in self._ordered:
            backends[backend.name] = {
                "breaker": breaker.state.value,
                "consecutive_failures": breaker.consecutive_failures,
                "calls": stats.calls,
                "successes": stats.successes,
                "failures": stats.failures,
                "in_flight": stats.in_flight,
                "avg_latency_ms": stats.avg_latency_ms,
                "availability_score": stats.availability_score(),
                "healthy": stats.healthy,
                "cooldown_s": max(0.0, stats.cooldown_until - time.monotonic()),
            }
        out: dict[str, Any] = {"router": attrs.asdict(self.counters), "backends": backends}
        patterns = self._patterns_snapshot()
        if patterns:
            out["patterns"] = patterns
        return out

    async def check_health(self) -> dict[str, bool]:
        """Run every backend's health check now (concurrently); returns name → healthy."""
        names = list(self._backends)
        results = await asyncio.gather(*(self._backends[n].refresh_health() for n in names))
        return dict(zip(names, results, strict=True))

    async def aclose(self) -> None:
        """Close every backend's connections and the state store."""
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        for backend in self._backends.values():
            await backend.aclose()
        await self.store.aclose()

    async def __aenter__(self) -> BackendRouter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
