"""The fallback sequence: the backends one request tries, in turn, until one answers.

``route_request`` and ``stream`` share it::

    fallback = FallbackSequence(request, options, counters, select=..., cooldown_wait=...)
    while True:
        entry = await fallback.next()        # select, then acquire its breaker
        try:
            ...                              # one attempt on entry.backend
        except BackendError as error:
            fallback.failed(entry.backend, error)   # raises when the request ends here
            continue
        return fallback.annotate(response)

- each backend is tried at most once, and at most ``max_attempts`` in all (every usable
  backend when it is None);
- when nothing is usable only because backends are cooling down (a short
  ``retry-after``), it waits for the first to come back, within ``max_cooldown_wait``;
- when nothing is usable because every breaker left is open, it sends the request as one
  early probe to the backend whose open period ends soonest (``panic_probes`` in the
  router's counters): breakers opened by bad luck never turn a partial failure into a
  total outage, and a backend that is really down receives only probes;
- a backend whose half-open probe slot a concurrent request took is passed over;
- a misconfigured backend's failure (its key, its model: ``BackendError.misconfigured``)
  moves on to the next backend; when every backend tried was misconfigured the first
  one's error ends the request;
- any other non-retryable failure, any failure with ``fallback_enabled`` off or of a
  forced backend, ends the request with that error; when no backend is left the
  ``NoBackendAvailableError`` lists every backend's failure or skip reason and is raised
  from the last failure;
- the request's :class:`~claudette.request_context.RequestContext` holds every failure
  and, on the first attempt after a fallback, the backend it fell back from; each
  fallback is logged (``claudette ask -v`` shows it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING

import attrs

from claudette._log import logger
from claudette.errors import NoBackendAvailableError
from claudette.misconfig import backend_at_fault
from claudette.request_context import RequestContext

if TYPE_CHECKING:
    from claudette.backend import BaseBackend
    from claudette.errors import BackendError
    from claudette.router.counters import RouterCounters
    from claudette.router.selection import Entry
    from claudette.types import ClaudetteRequest, ClaudetteResponse, RouterOptions

__all__ = ["FallbackSequence"]

#: ``select(request, exclude, failures)``: the backend to try next, or NoBackendAvailableError.
Select = Callable[["ClaudetteRequest", Collection[str], Mapping[str, str]], "Entry"]
#: ``cooldown_wait(request, exclude)``: seconds until a cooling-down backend is back, or None.
CooldownWait = Callable[["ClaudetteRequest", Collection[str]], "float | None"]
#: ``panic(request, exclude)``: the backends kept out only by an open breaker, soonest first.
Panic = Callable[["ClaudetteRequest", Collection[str]], "list[Entry]"]


def _no_panic(request: ClaudetteRequest, exclude: Collection[str]) -> list[Entry]:
    return []


class FallbackSequence:
    """The backends one request tries, in turn.

    :param request: the request (its forced backend, if any, ends the sequence at once).
    :param options: ``max_attempts``, ``fallback_enabled`` and ``max_cooldown_wait``.
    :param counters: the router's totals (``fallbacks``, ``panic_probes``).
    :param select: the router's selection.
    :param cooldown_wait: the router's view of when a cooling-down backend is back.
    :param context: the request as observers see it; one of its own when omitted.
    :param panic: the router's panic candidates (none: no early probe is ever sent).
    """

    def __init__(
        self,
        request: ClaudetteRequest,
        options: RouterOptions,
        counters: RouterCounters,
        *,
        select: Select,
        cooldown_wait: CooldownWait,
        context: RequestContext | None = None,
        panic: Panic = _no_panic,
    ) -> None:
        self.request = request
        self.options = options
        self.context = context if context is not None else RequestContext(request)
        #: Backends not to try again: failed, or their probe slot was taken.
        self.exclude: set[str] = set()
        #: How each failed backend failed, in the order they were tried.
        self.failures: dict[str, str] = self.context.failures
        #: The latest failure, the cause of the final NoBackendAvailableError.
        self.last_error: BackendError | None = None
        self._counters = counters
        self._select = select
        self._cooldown_wait = cooldown_wait
        self._panic = panic
        self._panicked = False
        self._misconfigured: list[BackendError] = []
        self._tried = 0
        self._waited = 0.0

    async def next(self) -> Entry:
        """The next backend to try, its breaker acquired.

        :raises NoBackendAvailableError: when ``max_attempts`` are spent or nothing is usable.
        :raises BackendError: the first misconfigured backend's error, when every backend
            tried was misconfigured and nothing is left.
        """
        limit = self.options.max_attempts
        if limit is not None and self._tried >= limit:
            self._raise_misconfigured()
            raise NoBackendAvailableError(f"all {limit} attempts failed", self.failures) from self.last_error
        while True:
            try:
                entry = self._select(self.request, self.exclude, self.failures)
            except NoBackendAvailableError as error:
                if await self._wait_for_cooldown():
                    continue
                probe = await self._panic_probe()
                if probe is not None:
                    entry = probe
                    break
                self._raise_misconfigured()
                if self.last_error is not None:
                    raise error from self.last_error
                raise error
            if await entry.breaker.acquire():
                break
            # A concurrent request took the half-open probe slot: try the next backend.
            self.exclude.add(entry.backend.name)
        if self._tried:
            self._counters.fallbacks += 1
            last = self.last_error
            if last is not None:
                self.context.fallback_from = last.backend
                self.context.fallback_reason = str(last)
            logger.info("falling back to %s", entry.backend.name)
        else:
            logger.info("routing to %s", entry.backend.name)
        self._tried += 1
        return entry

    async def _panic_probe(self) -> Entry | None:
        """One early probe per request, to the open backend whose period ends soonest."""
        if self._panicked:
            return None
        self._panicked = True
        for entry in self._panic(self.request, self.exclude):
            if await entry.breaker.acquire_early():
                self._counters.panic_probes += 1
                return entry
        return None

    def _raise_misconfigured(self) -> None:
        """Raise the first misconfigured backend's error when no other kind of failure occurred."""
        if self._misconfigured and len(self._misconfigured) == len(self.failures):
            raise self._misconfigured[0]

    async def _wait_for_cooldown(self) -> bool:
        """Sleep until a backend that is only cooling down is back, if that fits the budget."""
        if self.request.backend is not None:
            return False  # a forced backend that is not usable fails at once
        wait = self._cooldown_wait(self.request, self.exclude)
        if wait is None or wait > self.options.max_cooldown_wait - self._waited:
            return False
        self._waited += wait
        await asyncio.sleep(wait)
        return True

    def failed(self, backend: BaseBackend, error: BackendError) -> None:
        """``backend`` failed with ``error``: exclude it, or raise ``error`` when it ends the request."""
        self.last_error = error
        if not self.options.fallback_enabled or self.request.backend is not None:
            raise error
        if not error.retryable:
            if not backend_at_fault(error, self.request):
                raise error  # the request's own problem: every backend would refuse it
            self._misconfigured.append(error)
        self.exclude.add(backend.name)
        self.failures[backend.name] = str(error)
        logger.info("%s failed, looking for another backend: %s", backend.name, error)

    def annotate(self, response: ClaudetteResponse) -> ClaudetteResponse:
        """``response`` with ``metadata["failed_backends"]`` (their names, sorted) and
        ``metadata["backend_failures"]`` (name -> how it failed, in the order tried) when
        earlier backends failed."""
        if not self.failures:
            return response
        failed = sorted(self.failures)
        metadata = {
            **response.metadata,
            "failed_backends": failed,
            "backend_failures": dict(self.failures),
        }
        return attrs.evolve(response, metadata=metadata)
