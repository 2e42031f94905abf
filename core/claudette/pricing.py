"""What each token costs on a backend, and where that price comes from.

Each price is resolved once per backend, direction by direction, from the first of these
that has it (the order is the contract, tested for every plugin):

1. ``config``: the backend's explicit per-direction prices (``input_cost_per_token``,
   ``output_cost_per_token``), then its explicit ``cost_per_token`` (both directions);
2. ``price table``: the list price of the configured model (or, when the table does not
   know that one, the model the provider reported) in the ``genai-prices`` table, which the
   optional extra ``claudette-core[prices]`` installs; prices there are USD and are
   converted with ``[router] usd_to_eur``;
3. ``plugin default``: what the plugin declares for its kind of server (the self-hosted
   plugins declare their answers free);
4. ``unknown``: none of them. Such a backend still answers; its answers report
   ``cost_eur = 0`` with ``price_source = "unknown"``, and selection treats it as
   ``[router] unknown_price_policy`` says.

Token classes: cached prompt tokens and prompt tokens written to a provider's cache are
part of the prompt tokens, reasoning tokens part of the generated tokens. Cached and
cache-write tokens take their own rate (``cached_input_cost_per_token``,
``cache_write_cost_per_token``, else the rate of the same source, else the input rate);
reasoning tokens are billed as output tokens by every provider, so they take the output rate.

The table is read through ``genai_prices.calc_price`` only: it is imported on the first
lookup (never by ``import claudette``), and its price-update fetcher is never started.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import attrs

from claudette._log import logger

if TYPE_CHECKING:
    from claudette.types import BackendSettings

__all__ = [
    "DEFAULT_USD_TO_EUR",
    "PRICES_EXTRA_HINT",
    "UNKNOWN_PRICE_POLICIES",
    "PriceSource",
    "TokenPrices",
    "UnknownPricePolicy",
    "clear_price_cache",
    "describe",
    "price_table_available",
    "resolve_prices",
    "table_prices",
]

#: Where a price comes from, in the order they are tried.
PriceSource = Literal["config", "price table", "plugin default", "unknown"]
#: What selection does with a backend whose price is unknown: score it as the most
#: expensive backend, as a free one, or never select it.
UnknownPricePolicy = Literal["most_expensive", "free", "refuse"]
UNKNOWN_PRICE_POLICIES: tuple[UnknownPricePolicy, ...] = ("most_expensive", "free", "refuse")
#: EUR per USD used when ``[router] usd_to_eur`` is not set (a recent exchange rate;
#: set your own for accounting).
DEFAULT_USD_TO_EUR = 0.92
#: What to tell a user whose prices are unknown for want of the table.
PRICES_EXTRA_HINT = "pip install 'claudette-core[prices]' for list prices, or set cost_per_token"

#: Tokens priced to read a rate off the table: small enough to stay in the first tier of
#: a tiered (long-context) price, large enough to keep the rate's digits.
_SAMPLE_TOKENS = 1000


@attrs.frozen(slots=True)
class TokenPrices:
    """EUR per token for each token class; None where the price is unknown.

    :param input: a prompt token.
    :param output: a generated token (reasoning tokens included).
    :param cached_input: a prompt token read from the provider's prompt cache
        (None: the input rate).
    :param cache_write: a prompt token written to the provider's prompt cache
        (None: the input rate).
    :param source: where the input and output prices come from; two sources joined
        with ``" + "`` when the two directions come from different ones.
    :param model: the price table's model id, when a price comes from the table.
    """

    input: float | None = None
    output: float | None = None
    cached_input: float | None = None
    cache_write: float | None = None
    source: str = "unknown"
    model: str | None = None

    @classmethod
    def free(cls, source: PriceSource = "plugin default") -> TokenPrices:
        """Prices of a backend whose answers cost nothing."""
        return cls(0.0, 0.0, 0.0, 0.0, source)

    @property
    def known(self) -> bool:
        """True when both the input and the output price are known."""
        return self.input is not None and self.output is not None

    @property
    def is_free(self) -> bool:
        """True when every token is known to cost nothing."""
        return (
            self.input == 0.0
            and self.output == 0.0
            and not self.cached_input
            and not self.cache_write
        )

    @property
    def average(self) -> float | None:
        """The mean of the input and output price (for display and rough estimates)."""
        if self.input is None or self.output is None:
            return None
        return (self.input + self.output) / 2

    def cost(
        self,
        tokens_input: int,
        tokens_output: int,
        *,
        cached_input: int = 0,
        cache_write: int = 0,
    ) -> float | None:
        """EUR for a call with this usage, each token class at its rate; None when unknown.

        ``cached_input`` and ``cache_write`` are parts of ``tokens_input``.
        """
        price_in, price_out = self.input, self.output
        if price_in is None or price_out is None:
            return None
        if not cached_input and not cache_write:  # the usual case, without the clamping
            return tokens_input * price_in + tokens_output * price_out
        cached = min(max(cached_input, 0), tokens_input)
        written = min(max(cache_write, 0), tokens_input - cached)
        plain = tokens_input - cached - written
        total = plain * price_in + tokens_output * price_out
        if cached:
            total += cached * (price_in if self.cached_input is None else self.cached_input)
        if written:
            total += written * (price_in if self.cache_write is None else self.cache_write)
        return total

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view: EUR per million tokens of each class, and the source."""

        def per_million(value: float | None) -> float | None:
            return None if value is None else float(Decimal(repr(value)) * 1_000_000)

        return {
            "eur_per_1m_input": per_million(self.input),
            "eur_per_1m_output": per_million(self.output),
            "eur_per_1m_cached_input": per_million(self.cached_input),
            "eur_per_1m_cache_write": per_million(self.cache_write),
            "price_source": self.source,
            "price_table_model": self.model,
        }


# -- the price table --------------------------------------------------------------------------

_table_cache: dict[tuple[str | None, str, float], TokenPrices | None] = {}


def clear_price_cache() -> None:
    """Forget every price looked up in the table (the next lookup asks it again)."""
    _table_cache.clear()


def price_table_available() -> bool:
    """True when the ``genai-prices`` table can be imported (the ``[prices]`` extra)."""
    try:
        import genai_prices  # noqa: F401
    except ImportError:
        return False
    return True


def table_prices(provider: str | None, model: str, usd_to_eur: float) -> TokenPrices | None:
    """The table's list prices of ``model`` at ``provider`` in EUR; None when unknown.

    None too when the table is not installed. A lookup is made once per provider, model
    and exchange rate in a process; the table is imported on the first one.
    """
    key = (provider, model, usd_to_eur)
    if key in _table_cache:
        return _table_cache[key]
    prices = _lookup(provider, model, usd_to_eur)
    _table_cache[key] = prices
    return prices


def _lookup(provider: str | None, model: str, usd_to_eur: float) -> TokenPrices | None:
    try:
        from genai_prices import Usage, calc_price
    except ImportError:
        return None
    rate = Decimal(repr(usd_to_eur)) / _SAMPLE_TOKENS

    def per_token(**usage: int) -> tuple[float, str]:
        calc = calc_price(Usage(**usage), model, provider_id=provider)
        return float(Decimal(calc.total_price) * rate), str(calc.model.id)

    try:
        input_rate, model_id = per_token(input_tokens=_SAMPLE_TOKENS)
        output_rate, _ = per_token(output_tokens=_SAMPLE_TOKENS)
        cached_rate, _ = per_token(input_tokens=_SAMPLE_TOKENS, cache_read_tokens=_SAMPLE_TOKENS)
        write_rate, _ = per_token(input_tokens=_SAMPLE_TOKENS, cache_write_tokens=_SAMPLE_TOKENS)
    except LookupError:
        return None
    except Exception as exc:  # the table's own bug must not stop a backend from working
        logger.warning("price table lookup of %r (%s) failed: %s", model, provider, exc)
        return None
    return TokenPrices(input_rate, output_rate, cached_rate, write_rate, "price table", model_id)


# -- resolution --------------------------------------------------------------------------------


def _configured(settings: BackendSettings) -> TokenPrices:
    s = settings
    flat = s.cost_per_token
    input_price = s.input_cost_per_token if s.input_cost_per_token is not None else flat
    output_price = s.output_cost_per_token if s.output_cost_per_token is not None else flat
    return TokenPrices(input_price, output_price, source="config")


def resolve_prices(
    settings: BackendSettings,
    *,
    provider: str | None = None,
    models: tuple[str | None, ...] = (),
    plugin_default: TokenPrices | None = None,
    usd_to_eur: float = DEFAULT_USD_TO_EUR,
) -> TokenPrices:
    """The prices in force for a backend, each from the first source that has it.

    :param settings: the backend's settings (only explicit prices count as ``config``).
    :param provider: the price table's provider id (``openai``, ``anthropic``); None:
        the backend's models are not looked up in the table.
    :param models: models to look up, in order (the configured one, then the reported one).
    :param plugin_default: the plugin's own prices for this deployment, if any.
    :param usd_to_eur: EUR per USD, for the table's prices.
    """
    configured = _configured(settings)
    layers: list[TokenPrices] = [configured]
    if provider is not None and not configured.known:
        for model in models:
            if model:
                found = table_prices(provider, model, usd_to_eur)
                if found is not None:
                    layers.append(found)
                    break
    if plugin_default is not None:
        layers.append(plugin_default)
    input_layer = next((p for p in layers if p.input is not None), None)
    output_layer = next((p for p in layers if p.output is not None), None)
    if input_layer is None and output_layer is None:
        return TokenPrices()
    sources = [p.source for p in layers if p is input_layer or p is output_layer]
    model = next((p.model for p in (input_layer, output_layer) if p is not None and p.model), None)
    # Cache rates follow the input price's source unless configured on their own.
    cached = settings.cached_input_cost_per_token
    if cached is None and input_layer is not None:
        cached = input_layer.cached_input if input_layer.cached_input is not None else input_layer.input
    write = settings.cache_write_cost_per_token
    if write is None and input_layer is not None:
        write = input_layer.cache_write if input_layer.cache_write is not None else input_layer.input
    return TokenPrices(
        input_layer.input if input_layer is not None else None,
        output_layer.output if output_layer is not None else None,
        cached,
        write,
        " + ".join(sources),
        model,
    )


def describe(prices: TokenPrices) -> Mapping[str, Any]:
    """:meth:`TokenPrices.to_dict`, with a hint when the price is unknown for want of the table."""
    view = prices.to_dict()
    if not prices.known and not price_table_available():
        view["hint"] = PRICES_EXTRA_HINT
    return view
