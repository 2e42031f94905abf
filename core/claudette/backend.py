"""The backend contract: the :class:`Backend` protocol and the :class:`BaseBackend` base class.

A backend owns only its provider's protocol. The router owns the per-backend state it
uses to choose (stats, breaker); see :mod:`claudette.state`.
"""

from __future__ import annotations

import abc
import asyncio
import math
import os
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from claudette._log import logger
from claudette.errors import BackendError, ConfigError, ConfigProblem, InvalidRequestError
from claudette.pricing import DEFAULT_USD_TO_EUR, TokenPrices, UnknownPricePolicy, resolve_prices
from claudette.scoring import COST_REFERENCE_EUR, LATENCY_REFERENCE_MS
from claudette.state import BackendStats
from claudette.types import (
    CHARS_PER_TOKEN,
    BackendInfo,
    BackendSettings,
    ClaudetteRequest,
    ClaudetteResponse,
    StreamChunk,
)
from claudette.usage_guard import checked_usage

if TYPE_CHECKING:
    import ssl

    import httpx

    from claudette.messages import ToolCall

__all__ = ["DEFAULT_KEEPALIVE_CONNECTIONS", "DEFAULT_MAX_CONNECTIONS", "Backend", "BaseBackend", "BatchCapable"]

#: Output tokens a cost estimate assumes when neither the request nor the backend sets
#: ``max_tokens``.
DEFAULT_OUTPUT_TOKENS = 256
#: Connections a backend's own client opens at most (httpx's own default): enough for
#: the requests one process sends a provider at once, and a bound on what a stalled
#: provider can hold open.
DEFAULT_MAX_CONNECTIONS = 100
#: Idle connections a backend's own client keeps open for reuse (httpx's own default):
#: the pool looks through its idle connections for every request, so keeping every
#: connection a burst opened would cost CPU on each request after it.
DEFAULT_KEEPALIVE_CONNECTIONS = 20
#: Endpoint URLs a backend remembers (parsed once) before it starts over.
_URL_CACHE_SIZE = 32
#: Reported models a backend looks up prices for at most; a provider reporting ever new
#: names gets the configured model's prices after that.
_REPORTED_MODELS = 8


_ssl_context: ssl.SSLContext | None = None


def _shared_ssl_context() -> ssl.SSLContext:
    """One verifying SSL context for every client: loading the CA bundle costs 50-300 ms,
    so it is done once per process, on the first client, never at import."""
    global _ssl_context
    if _ssl_context is None:
        import httpx

        _ssl_context = httpx.create_ssl_context(verify=True)
    return _ssl_context


@runtime_checkable
class Backend(Protocol):
    """What the router needs of every backend: the members it calls on each one.

    :class:`BaseBackend` provides all but :meth:`send`. Optional capabilities are their
    own protocols (:class:`BatchCapable`); the router uses one only where a backend has it.
    """

    name: str
    settings: BackendSettings
    stats: BackendStats

    async def send(self, request: ClaudetteRequest) -> ClaudetteResponse:
        """Send ``request`` and return the whole answer, or raise a ``BackendError``."""
        ...

    def stream(self, request: ClaudetteRequest) -> AsyncIterator[StreamChunk]:
        """Yield the answer in chunks; the last carries the :class:`ClaudetteResponse`."""
        ...

    async def health_check(self) -> bool:
        """Ask the provider, at no cost, whether it can answer now."""
        ...

    def health_is_stale(self, now: float | None = None) -> bool:
        """True when the cached health result is older than ``health_check_ttl``."""
        ...

    async def refresh_health(self) -> bool:
        """Run :meth:`health_check` now and cache its result; concurrent callers share one."""
        ...

    def estimate_request_cost(self, request: ClaudetteRequest) -> float:
        """EUR ``request`` is expected to cost here (scoring and the budget use it)."""
        ...

    def validate_config(self) -> None:
        """Raise ``ConfigError`` listing every problem in the settings."""
        ...

    def get_info(self) -> BackendInfo:
        """A display snapshot of the backend."""
        ...

    async def aclose(self) -> None:
        """Release connections and other resources."""
        ...


@runtime_checkable
class BatchCapable(Protocol):
    """A backend with a provider batch path: many requests in one provider call.

    :class:`~claudette.batching.RequestBatcher` sends the requests it collects for such a
    backend together; every other backend gets them one by one.
    """

    async def send_batch(
        self, requests: Sequence[ClaudetteRequest]
    ) -> Sequence[ClaudetteResponse | BackendError]:
        """One response or error per request, in the order given."""
        ...


class BaseBackend(abc.ABC):
    """Base class for backends: everything but the provider protocol is provided.

    Subclasses implement :meth:`send` and usually :meth:`stream` and :meth:`health_check`.

    :param name: this backend's name in the router (two backends may share a plugin).
    :param settings: its settings, already merged with the plugin's defaults.
    :param client: an ``httpx.AsyncClient`` to use instead of the backend's own pooled one
        (for tests, or to share a pool); the backend then does not close it.
    """

    #: Settings a backend needs before it can work (checked by :meth:`validate_config`).
    requires_api_key: ClassVar[bool] = False
    requires_base_url: ClassVar[bool] = False
    #: What the plugin's protocol can carry, among ``tools``, ``images`` and ``json_schema``
    #: (:attr:`capabilities` says what this backend can do).
    default_capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self,
        name: str,
        settings: BackendSettings | None = None,
        *,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.name = name
        settings = settings or BackendSettings()
        if settings.api_key is None and settings.api_key_env:
            key = os.environ.get(settings.api_key_env)
            if key:
                settings = settings.with_defaults(BackendSettings(api_key=key))
        self.settings = settings
        #: Per-backend statistics; the router binds its state store's object (:meth:`bind_stats`).
        self.stats = BackendStats()
        self._client = client
        self._owns_client = client is None
        self._health_task: asyncio.Task[bool] | None = None
        self._urls: dict[str, tuple[httpx.AsyncClient, httpx.URL]] = {}
        #: EUR per USD for the price table's prices (the router sets its own, see :meth:`use_pricing`).
        self.usd_to_eur = DEFAULT_USD_TO_EUR
        #: How selection treats this backend when its price is unknown (set by the router).
        self.unknown_price_policy: UnknownPricePolicy = "most_expensive"
        # Prices resolved for (settings, rate), and by reported model.
        self._prices: tuple[BackendSettings, float, dict[str | None, TokenPrices]] | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} model={self.settings.model!r}>"

    @property
    def capabilities(self) -> frozenset[str]:
        """What this backend can do: ``settings.capabilities`` when set, else the plugin's
        :attr:`default_capabilities`. The router never sends it a request that needs more."""
        configured = self.settings.capabilities
        return self.default_capabilities if configured is None else frozenset(configured)

    def refusal(self, request: ClaudetteRequest) -> str | None:
        """Why this backend cannot take ``request`` (what it lacks), or None when it can.

        The router skips a backend that refuses, with this reason in ``explain()`` and
        ``NoBackendAvailableError``. The default compares the request's
        ``required_capabilities`` with :attr:`capabilities`; a plugin whose provider
        cannot express some form of a feature adds that here.
        """
        needs = request.required_capabilities
        if needs and not needs <= self.capabilities:
            return f"lacks {', '.join(sorted(needs - self.capabilities))}, which the request needs"
        return None

    def check_capabilities(self, request: ClaudetteRequest) -> None:
        """Refuse, before any network call, a request this backend cannot take.

        :raises InvalidRequestError: with :meth:`refusal`'s reason (not retryable).
        """
        why = self.refusal(request)
        if why is not None:
            raise InvalidRequestError(
                f"backend {self.name!r} cannot take this request: {why}", self.name, False
            )

    def bind_stats(self, stats: BackendStats) -> None:
        """Keep this backend's statistics in ``stats`` from now on.

        The router calls it when the backend is registered, with its state store's object,
        so that the backend's own :meth:`record_latency`, :meth:`get_latency_score` and
        :meth:`get_info` read the same window as the router's scoring, and so that a shared
        store's statistics are what the backend reports rate limits to.
        """
        self.stats = stats

    # -- the provider protocol -------------------------------------------------------

    @abc.abstractmethod
    async def send(self, request: ClaudetteRequest) -> ClaudetteResponse:
        """Send ``request`` to the provider and return its whole answer.

        Raise a :class:`~claudette.errors.BackendError` subclass on every failure.
        """

    async def stream(self, request: ClaudetteRequest) -> AsyncIterator[StreamChunk]:
        """Yield the answer in chunks; the last chunk carries the whole response.

        The default sends one non-streamed request and yields it as a single chunk.
        """
        response = await self.send(request)
        yield StreamChunk(response.content, self.name, response)

    async def health_check(self) -> bool:
        """Ask the provider whether it can answer now. Must never cost money.

        The default trusts the backend; provider plugins list models or ping ``/health``.
        """
        return True

    # -- HTTP --------------------------------------------------------------------------

    @property
    def client(self) -> httpx.AsyncClient:
        """The backend's pooled ``httpx.AsyncClient`` (created on first use)."""
        if self._client is None:
            self._client = self.build_client()
        return self._client

    def url_for(self, path: str) -> httpx.URL:
        """``path`` as an :class:`httpx.URL`, parsed (and joined to the base URL) once.

        A path relative to the client's base URL is joined to it exactly as httpx joins
        it; an absolute URL is kept. Pass the result to the client: given a string, httpx
        parses and joins the URL again on every request, which on a fast upstream costs
        more CPU than claudette's routing (see ``docs/performance.md``).
        """
        client = self.client
        hit = self._urls.get(path)
        if hit is not None and hit[0] is client:
            return hit[1]
        import httpx

        url = httpx.URL(path)
        if url.is_relative_url:
            base = client.base_url
            url = base.copy_with(raw_path=base.raw_path + url.raw_path.lstrip(b"/"))
        if len(self._urls) >= _URL_CACHE_SIZE:  # a backend calls a handful of endpoints
            self._urls.clear()
        self._urls[path] = (client, url)
        return url

    def build_client(self) -> httpx.AsyncClient:
        """Create the backend's own pooled client: a plain ``httpx.AsyncClient``.

        It takes the base URL, default headers and timeouts from the settings, never
        follows a redirect (a redirect to another host would carry the API key there),
        opens up to :data:`DEFAULT_MAX_CONNECTIONS` connections and keeps up to
        :data:`DEFAULT_KEEPALIVE_CONNECTIONS` of them idle for reuse, verifies TLS with one
        shared SSL context unless ``verify_tls`` is false, and routes through a proxy the
        environment names (``HTTPS_PROXY`` ...) as httpx does. With ``http_client =
        "aiohttp"`` its connections are aiohttp's
        (:class:`~claudette.aiohttp_transport.AiohttpTransport`). Override it to configure
        the client differently, or pass ``client=`` to the constructor.
        """
        import httpx

        s = self.settings
        verify: ssl.SSLContext | bool = _shared_ssl_context() if s.verify_tls else False
        limits = httpx.Limits(
            max_connections=DEFAULT_MAX_CONNECTIONS,
            max_keepalive_connections=DEFAULT_KEEPALIVE_CONNECTIONS,
        )
        transport: httpx.AsyncBaseTransport | None = None
        if s.http_client == "aiohttp":
            from claudette.aiohttp_transport import AiohttpTransport

            transport = AiohttpTransport(verify=verify, limits=limits)
        return httpx.AsyncClient(
            base_url=s.base_url or "",
            headers=dict(s.headers) if s.headers else None,
            timeout=httpx.Timeout(s.timeout, connect=s.connect_timeout),
            follow_redirects=False,
            limits=limits,
            verify=verify,
            transport=transport,
        )

    async def aclose(self) -> None:
        """Close the backend's own HTTP client (an injected one is left open)."""
        task, self._health_task = self._health_task, None
        if task is not None and not task.done():
            task.cancel()
        if self._client is not None and self._owns_client:
            client, self._client = self._client, None
            await client.aclose()

    # -- health --------------------------------------------------------------------------

    @property
    def healthy(self) -> bool | None:
        """The last health check's result; None if never checked."""
        return self.stats.healthy

    def health_is_stale(self, now: float | None = None) -> bool:
        """True when the cached health result is older than ``health_check_ttl``."""
        checked = self.stats.health_checked_at
        if checked is None:
            return True
        return (now if now is not None else time.monotonic()) - checked >= self.settings.health_check_ttl

    async def refresh_health(self) -> bool:
        """Run :meth:`health_check` now; concurrent callers share one check."""
        task = self._health_task
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self._run_health_check())
            self._health_task = task
        return await asyncio.shield(task)

    async def _run_health_check(self) -> bool:
        try:
            ok = bool(await self.health_check())
        except asyncio.CancelledError:
            raise
        except BackendError as exc:  # a check may report its backend's misconfiguration
            if exc.misconfigured:
                self.mark_misconfigured(str(exc))
            else:
                logger.warning("health check of backend %r failed: %s", self.name, exc)
            ok = False
        except Exception as exc:  # a failing check means unhealthy, never a crash
            logger.warning("health check of backend %r failed: %s", self.name, exc)
            ok = False
        self.stats.healthy = ok
        self.stats.health_checked_at = time.monotonic()
        return ok

    def mark_misconfigured(self, reason: str) -> None:
        """Report that this backend's configuration is wrong (``reason``: its key, its model).

        A health check calls it when the provider is up but refuses the key or does not
        serve the configured model; the router then keeps the backend out for
        :data:`~claudette.misconfig.MISCONFIGURED_HOLD` seconds, shows ``reason`` in
        ``explain`` and :class:`~claudette.types.BackendInfo`, and does not count it as a
        provider failure.
        """
        from claudette.misconfig import MISCONFIGURED_HOLD

        logger.warning("backend %r is misconfigured: %s", self.name, reason)
        self.stats.mark_misconfigured(reason, MISCONFIGURED_HOLD)

    def answered_recently(self, now: float | None = None) -> bool:
        """True when a real call succeeded within ``health_check_ttl`` and none failed since:
        real traffic is a fresher health signal than any check."""
        last = self.stats.last_success_at
        if last is None:
            return False
        failed = self.stats.last_failure_at
        if failed is not None and failed > last:
            return False
        return (now if now is not None else time.monotonic()) - last < self.settings.health_check_ttl

    async def is_available(self) -> bool:
        """True when enabled and healthy; the health check is cached for its TTL."""
        if not self.settings.enabled:
            return False
        if self.health_is_stale():
            return await self.refresh_health()
        return bool(self.stats.healthy)

    # -- prices, cost, tokens and latency -----------------------------------------------------

    def price_table_provider(self) -> str | None:
        """The price table's provider id for this backend's models (``openai``, ``anthropic``).

        None (the default): the table is not consulted, and a price comes from the config
        or :meth:`default_prices`. See :mod:`claudette.pricing`.
        """
        return None

    def default_prices(self) -> TokenPrices | None:
        """The plugin's own prices for this deployment; None (the default): it has none.

        They are used only where neither the config nor the price table has a price.
        """
        return None

    def use_pricing(self, *, usd_to_eur: float, unknown_price_policy: UnknownPricePolicy) -> None:
        """Take the router's exchange rate and unknown-price policy (called at registration)."""
        self.usd_to_eur = usd_to_eur
        self.unknown_price_policy = unknown_price_policy
        self._prices = None

    def prices_for(self, model: str | None = None) -> TokenPrices:
        """The prices in force for an answer by ``model`` (None: the configured model).

        The configured model's prices, unless they are unknown and the price table knows
        ``model`` (the model the provider reported). Resolved once per model.
        """
        s = self.settings
        cached = self._prices
        if cached is None or cached[0] is not s or cached[1] != self.usd_to_eur:
            cached = self._prices = (s, self.usd_to_eur, {})
        by_model = cached[2]
        key = None if model == s.model else model
        prices = by_model.get(key)
        if prices is None and key is not None and len(by_model) > _REPORTED_MODELS:
            key = None
            prices = by_model.get(None)
        if prices is None:
            models = (s.model,) if key is None else (s.model, model)
            prices = resolve_prices(
                s,
                provider=self.price_table_provider(),
                models=models,
                plugin_default=self.default_prices(),
                usd_to_eur=self.usd_to_eur,
            )
            by_model[key] = prices
        return prices

    @property
    def prices(self) -> TokenPrices:
        """The prices in force for the configured model, with where they come from."""
        return self.prices_for(None)

    def estimate_tokens(self, text: str) -> int:
        """Approximate tokens in ``text`` (about 4 characters each)."""
        return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0

    def estimate_cost(self, tokens: int) -> float:
        """EUR for ``tokens`` tokens at the average of input and output price (0 if unknown)."""
        average = self.prices.average
        return tokens * average if average is not None else 0.0

    def cost_for_usage(
        self,
        tokens_input: int,
        tokens_output: int,
        *,
        cached_input: int = 0,
        cache_write: int = 0,
        model: str | None = None,
    ) -> float:
        """EUR for a call that used these tokens, each class at its rate; 0 if the price is unknown.

        ``cached_input`` and ``cache_write`` are parts of ``tokens_input``; ``model`` is the
        model that answered, when it may differ from the configured one.
        """
        cost = self.prices_for(model).cost(
            tokens_input, tokens_output, cached_input=cached_input, cache_write=cache_write
        )
        return cost if cost is not None else 0.0

    def estimate_request_cost(self, request: ClaudetteRequest) -> float:
        """EUR a request is expected to cost here: its prompt plus its output budget.

        With an unknown price it is what ``unknown_price_policy`` says: 0 for ``free``,
        else :data:`~claudette.scoring.COST_REFERENCE_EUR`, the cost that scores highest.
        """
        prices = self.prices
        if not prices.known:
            return 0.0 if self.unknown_price_policy == "free" else COST_REFERENCE_EUR
        tokens_in = math.ceil(request.text_length / CHARS_PER_TOKEN)
        tokens_out = request.options.max_tokens or self.settings.max_tokens or DEFAULT_OUTPUT_TOKENS
        return self.cost_for_usage(tokens_in, tokens_out)

    def record_latency(self, latency_ms: float) -> None:
        """Remember the latency of one call in the bounded window."""
        self.stats.record_latency(latency_ms)

    def get_latency_score(self) -> float:
        """Average recent latency scaled to 0..1 (10 s or more scores 1)."""
        return min(self.stats.avg_latency_ms / LATENCY_REFERENCE_MS, 1.0)

    # -- configuration and display ---------------------------------------------------------

    def config_problems(self) -> list[ConfigProblem]:
        """Every problem in the settings (empty when valid); extend it in subclasses."""
        problems: list[ConfigProblem] = []
        where = f"backends.{self.name}"
        if self.requires_api_key and not self.settings.api_key:
            env = self.settings.api_key_env
            hint = f" (set {env} or api_key)" if env else " (set api_key)"
            problems.append(ConfigProblem(f"{where}.api_key", "an API key is required" + hint))
        if self.requires_base_url and not self.settings.base_url:
            problems.append(ConfigProblem(f"{where}.base_url", "a base URL is required"))
        if not self.settings.model:
            problems.append(ConfigProblem(f"{where}.model", "a model name is required"))
        return problems

    def validate_config(self) -> None:
        """Raise :class:`~claudette.errors.ConfigError` listing every settings problem."""
        problems = self.config_problems()
        if problems:
            raise ConfigError(problems)

    def get_info(self) -> BackendInfo:
        """A snapshot for display: price, health, latency and success rate."""
        s = self.settings
        prices = self.prices
        return BackendInfo(
            name=self.name,
            type=s.backend_type or "cloud",
            model=s.model,
            priority=s.priority,
            cost_per_token=prices.average,
            healthy=self.stats.healthy,
            avg_latency=self.stats.avg_latency_ms,
            current_timeout=s.timeout,
            success_rate=self.stats.success_rate,
            misconfigured=(
                self.stats.misconfigured if self.stats.misconfigured_for(time.monotonic()) > 0 else None
            ),
            price_source=prices.source,
        )

    # -- building responses ------------------------------------------------------------------

    def create_success_response(
        self,
        content: str,
        tokens_input: int | None,
        tokens_output: int | None,
        latency_ms: float,
        metadata: Mapping[str, Any] | None = None,
        *,
        model: str | None = None,
        finish_reason: str | None = None,
        request: ClaudetteRequest | None = None,
        tool_calls: Sequence[ToolCall] = (),
        tokens_cached_input: int = 0,
        tokens_cache_write: int = 0,
        tokens_reasoning: int = 0,
    ) -> ClaudetteResponse:
        """Build the response for a successful call, with its cost.

        Pass the provider's reported token counts; where one is None it is estimated
        (from ``request`` and ``content``, tool calls included) and
        ``metadata["usage_estimated"]`` is set. A
        count that is not plausible (negative, not an integer, beyond
        :data:`~claudette.usage_guard.MAX_PLAUSIBLE_TOKENS`) is estimated too, and named in
        ``metadata["usage_implausible"]``: the answer is kept.
        The cached, cache-write and reasoning counts are parts of the input and output
        counts; each class is priced at its own rate (:mod:`claudette.pricing`).
        """
        checked = checked_usage(tokens_input, tokens_output)
        tokens_input, tokens_output = checked.tokens_input, checked.tokens_output
        if checked.implausible:
            metadata = {**(metadata or {}), "usage_implausible": list(checked.implausible)}
        if tokens_input is None or tokens_output is None:
            if tokens_input is None:
                tokens_input = math.ceil(request.text_length / CHARS_PER_TOKEN) if request else 0
            if tokens_output is None:
                tokens_output = self.estimate_tokens(content) + sum(
                    self.estimate_tokens(c.name + c.arguments_json) for c in tool_calls
                )
            metadata = {**(metadata or {}), "usage_estimated": True}
        if tokens_cached_input or tokens_cache_write or tokens_reasoning:
            # Parts of the counts above, never more than them (nor below 0).
            tokens_cached_input = min(max(tokens_cached_input, 0), tokens_input)
            tokens_cache_write = min(max(tokens_cache_write, 0), tokens_input - tokens_cached_input)
            tokens_reasoning = min(max(tokens_reasoning, 0), tokens_output)
        prices = self.prices_for(model)
        cost = prices.cost(
            tokens_input, tokens_output, cached_input=tokens_cached_input, cache_write=tokens_cache_write
        )
        return ClaudetteResponse(
            content,
            self.name,
            model or self.settings.model,
            tokens_input,
            tokens_output,
            cost if cost is not None else 0.0,
            latency_ms,
            False,
            finish_reason,
            metadata,
            tool_calls if tool_calls.__class__ is tuple else tuple(tool_calls),
            tokens_cached_input,
            tokens_cache_write,
            tokens_reasoning,
            prices.source,
        )
