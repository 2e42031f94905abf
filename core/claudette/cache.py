"""The response cache: a bounded LRU with per-entry TTL, keyed by the normalised request.

The router consults it when ``RouterOptions.cache`` is set (``[router.cache]``) and the
request has ``use_cache=True`` (:class:`CachedRouting`). A hit returns the stored answer
with ``cache_hit=True`` and ``cost_eur=0``; identical requests that arrive while the first
is being answered wait for its answer instead of calling a backend each. The cache lives behind the state store
(``StateStore.response_cache``), so a shared store can share it between processes; any
object with the :class:`ResponseCache` methods will do.

Adaptive TTL (``adaptive_ttl``, on by default), see :func:`entry_ttl`: an answer that was
expensive, or is asked for often, is worth keeping longer, and one about the present goes
stale fast:

- expensive answers live longer: ``ttl * (1 + min(cost / EUR 0.01, 1))``;
- answers to time-sensitive prompts ("today", "now", "latest" ...) live at most
  ``time_sensitive_ttl``;
- each read lengthens an entry's life by a quarter of its TTL, up to ``max_ttl``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from claudette._log import logger
from claudette.errors import ClaudetteError

if TYPE_CHECKING:
    from claudette.messages import Message
    from claudette.router.counters import RouterCounters
    from claudette.types import CacheOptions, ClaudetteRequest, ClaudetteResponse

__all__ = [
    "CachedRouting",
    "InMemoryResponseCache",
    "ResponseCache",
    "cache_key",
    "entry_ttl",
    "is_time_sensitive",
]

_Outcome = tuple["ClaudetteResponse | None", "ClaudetteError | None"]

#: The cost that doubles an entry's TTL (the cost that scores 1.0 in the default scoring).
EXPENSIVE_EUR = 0.01
#: Each read lengthens an entry's life by this fraction of its TTL.
READ_BONUS = 0.25

_TIME_WORDS = re.compile(
    r"\b(today|tonight|now|right now|currently|current|latest|newest|recent|recently|"
    r"breaking|live|this (?:week|month|year|morning|evening)|yesterday|tomorrow|"
    r"heute|jetzt|aktuell|neueste)\b",
    re.IGNORECASE,
)
_SPACES = re.compile(r"\s+")


def _normalise(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _message_key(message: Message) -> dict[str, Any]:
    """A message with parts or tool calls, for the key: its OpenAI form, text normalised
    and inline images by their digest."""
    out = message.to_dict()
    content = out["content"]
    if isinstance(content, str):
        out["content"] = _normalise(content)
    else:
        for part in content:
            if part["type"] == "text":
                part["text"] = _normalise(part["text"])
            else:
                url = part["image_url"]["url"]
                part["image_url"]["url"] = hashlib.sha256(url.encode()).hexdigest()
    return out


def cache_key(request: ClaudetteRequest) -> str:
    """A stable key for everything that changes the answer.

    The conversation (roles and whitespace-normalised text, the prompt as the last user
    message; images, tool calls and tool results), the options (model, temperature, max
    tokens, stop, top_p, seed), the tools, tool choice and response format, and the
    forced backend, so a forced request never receives another backend's answer.
    """
    o = request.options
    payload: list[Any] = [
        [
            [m.role, _normalise(m.content)]
            if m.content.__class__ is str and not m.tool_calls and m.tool_call_id is None
            else [m.role, _message_key(m)]
            for m in request.all_messages
        ],
        o.model,
        o.temperature,
        o.max_tokens,
        list(o.stop),
        request.backend,
    ]
    if o.top_p is not None or o.seed is not None:
        payload += [o.top_p, o.seed]
    if request.tools or request.tool_choice is not None or request.response_format is not None:
        payload += [
            [t.to_openai() for t in request.tools],
            _plain(request.tool_choice),
            _plain(request.response_format),
        ]
    raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def is_time_sensitive(request: ClaudetteRequest) -> bool:
    """True when the last user message asks about the present ("today", "latest" ...)."""
    for message in reversed(request.all_messages):
        if message.role == "user":
            return _TIME_WORDS.search(message.text) is not None
    return False


def entry_ttl(options: CacheOptions, request: ClaudetteRequest, response: ClaudetteResponse) -> float:
    """Seconds to keep ``response``; see the module docstring for the adaptive rules."""
    ttl = options.ttl
    if not options.adaptive_ttl:
        return min(ttl, options.max_ttl)
    ttl *= 1.0 + min(response.cost_eur / EXPENSIVE_EUR, 1.0)
    if is_time_sensitive(request):
        ttl = min(ttl, options.time_sensitive_ttl)
    return min(ttl, options.max_ttl)


@runtime_checkable
class ResponseCache(Protocol):
    """What the router needs of a response cache (async, so a shared one can do I/O)."""

    async def get(self, key: str) -> ClaudetteResponse | None:
        """The live answer stored under ``key``, or None (a read counts as a hit)."""
        ...

    async def set(
        self, key: str, response: ClaudetteResponse, ttl: float, *, extendable: bool = True
    ) -> None:
        """Store ``response`` for ``ttl`` seconds; ``extendable`` lets reads lengthen it."""
        ...

    async def clear(self) -> None:
        """Drop every entry."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """Size and hit counts, JSON-ready, for ``router.stats()``."""
        ...


class _Entry:
    __slots__ = ("expires_at", "extendable", "hits", "response", "stored_at", "ttl")

    def __init__(self, response: ClaudetteResponse, ttl: float, now: float, extendable: bool) -> None:
        self.response = response
        self.ttl = ttl
        self.stored_at = now
        self.expires_at = now + ttl
        self.hits = 0
        self.extendable = extendable


class InMemoryResponseCache:
    """The in-process cache: an ``OrderedDict`` LRU of at most ``max_entries``.

    :param options: size, TTLs and whether reads lengthen an entry's life.
    :param clock: the monotonic clock (injectable for tests).
    """

    def __init__(self, options: CacheOptions, clock: Any = time.monotonic) -> None:
        self.options = options
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> ClaudetteResponse | None:
        """The live answer under ``key``; an expired one is dropped."""
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        now = self._clock()
        if now >= entry.expires_at:
            del self._entries[key]
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        entry.hits += 1
        self.hits += 1
        if entry.extendable and self.options.adaptive_ttl:
            life = min(entry.ttl * (1.0 + READ_BONUS * entry.hits), self.options.max_ttl)
            entry.expires_at = max(entry.expires_at, entry.stored_at + life)
        return entry.response

    async def set(
        self, key: str, response: ClaudetteResponse, ttl: float, *, extendable: bool = True
    ) -> None:
        """Store ``response``; the least recently used entry goes when the cache is full."""
        if ttl <= 0:
            return
        entries = self._entries
        entries[key] = _Entry(response, ttl, self._clock(), extendable)
        entries.move_to_end(key)
        while len(entries) > self.options.max_entries:
            entries.popitem(last=False)
            self.evictions += 1

    def expires_in(self, key: str) -> float | None:
        """Seconds until ``key`` expires (None when absent), for inspection and tests."""
        entry = self._entries.get(key)
        return None if entry is None else entry.expires_at - self._clock()

    async def clear(self) -> None:
        """Drop every entry."""
        self._entries.clear()

    def snapshot(self) -> dict[str, Any]:
        """Entries, hits, misses and evictions."""
        return {
            "entries": len(self._entries),
            "max_entries": self.options.max_entries,
            "hits": self.hits,
            "misses": self.misses,
            "evictions": self.evictions,
        }


class CachedRouting:
    """The response cache around routing: answer from the cache, or route once for all.

    A request whose answer is cached is answered at once. Identical requests that arrive
    while one of them is being routed share its outcome: its answer (as a cache hit) or
    its error; if it is cancelled, each routes on its own. Failures are not cached, and a
    cache that fails to read or store is logged and bypassed (never a failed request).

    :param cache: where answers are kept (the state store's ``response_cache``).
    :param options: the TTL rules.
    :param counters: the router's totals.
    """

    def __init__(
        self, cache: ResponseCache, options: CacheOptions, counters: RouterCounters
    ) -> None:
        self.cache = cache
        self.options = options
        self._counters = counters
        self._pending: dict[str, asyncio.Future[_Outcome]] = {}

    async def route(
        self,
        request: ClaudetteRequest,
        route: Callable[[ClaudetteRequest], Awaitable[ClaudetteResponse]],
    ) -> ClaudetteResponse:
        """The cached answer to ``request``, or ``await route(request)`` shared and stored."""
        key = cache_key(request)
        try:
            hit = await self.cache.get(key)
        except Exception:
            logger.exception("response cache lookup failed; routing the request")
            hit = None
        if hit is not None:
            return self._hit(hit)
        pending = self._pending.get(key)
        if pending is not None:
            # An identical request is being answered: share its outcome.
            response, error = await asyncio.shield(pending)
            if error is not None:
                self._counters.requests += 1
                self._counters.failures += 1
                raise error
            if response is not None:
                return self._hit(response)
            return await route(request)  # it was cancelled: go on our own
        future: asyncio.Future[_Outcome] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        outcome: _Outcome = (None, None)
        try:
            response = await route(request)
            outcome = (response, None)
        except ClaudetteError as exc:
            outcome = (None, exc)
            raise
        finally:
            self._pending.pop(key, None)
            future.set_result(outcome)
        try:
            await self.cache.set(
                key,
                response,
                entry_ttl(self.options, request, response),
                extendable=not is_time_sensitive(request),
            )
        except Exception:
            logger.exception("response cache store failed; the answer is returned uncached")
        return response

    def _hit(self, response: ClaudetteResponse) -> ClaudetteResponse:
        c = self._counters
        c.requests += 1
        c.successes += 1
        c.cache_hits += 1
        return attrs.evolve(response, cache_hit=True, cost_eur=0.0, latency_ms=0.0)
