"""Prices of the claude backend: the precedence, the price table, every token class."""

from __future__ import annotations

import pytest
from claude_support import API_KEY, fixture_bytes
from claudette import BackendSettings, ClaudetteRequest, ClaudetteResponse
from claudette.pricing import DEFAULT_USD_TO_EUR
from claudette.testing import LoopbackServer, Reply
from claudette.testing.pricing import check_price_precedence, table_blocked

from claudette_backend_claude import ClaudeBackend

#: Configured EUR per token of each class (what the tests expect the cost to use).
PRICED = BackendSettings(
    input_cost_per_token=3e-6,
    output_cost_per_token=1.5e-5,
    cached_input_cost_per_token=3e-7,
    cache_write_cost_per_token=3.75e-6,
)
#: The recorded cache usage: 21 plain prompt tokens, 2400 read from and 1800 written to
#: the cache, 50 generated.
PLAIN, READ, WRITTEN, OUT = 21, 2400, 1800, 50


def _backend(settings: BackendSettings, url: str = "http://127.0.0.1:9") -> ClaudeBackend:
    return ClaudeBackend("claude", settings.with_defaults(BackendSettings(base_url=url, api_key=API_KEY)))


def _events(raw: bytes) -> list[str]:
    return [e + "\n\n" for e in raw.decode().split("\n\n") if e.strip()]


def test_configured_prices_outrank_the_table() -> None:
    check_price_precedence(_backend)


def test_configured_price_beats_the_table_for_a_known_model() -> None:
    backend = _backend(BackendSettings(model="claude-sonnet-4-5", cost_per_token=1e-5))
    assert backend.cost_for_usage(4, 5) == pytest.approx(9e-5)
    assert backend.prices.source == "config"


def test_without_the_table_an_unpriced_model_is_unknown() -> None:
    with table_blocked():
        prices = _backend(BackendSettings(model="claude-sonnet-4-5")).prices
    assert (prices.known, prices.source) == (False, "unknown")


def test_the_table_prices_each_model_at_its_list_price() -> None:
    pytest.importorskip("genai_prices")
    sonnet = _backend(BackendSettings(model="claude-sonnet-4-5")).prices
    haiku = _backend(BackendSettings(model="claude-haiku-4-5")).prices
    assert (sonnet.source, haiku.source) == ("price table", "price table")
    # List prices in USD per million tokens: sonnet 3 / 15, haiku 1 / 5.
    assert sonnet.input == pytest.approx(3e-6 * DEFAULT_USD_TO_EUR)
    assert sonnet.output == pytest.approx(15e-6 * DEFAULT_USD_TO_EUR)
    assert sonnet.cached_input == pytest.approx(0.3e-6 * DEFAULT_USD_TO_EUR)
    assert sonnet.cache_write == pytest.approx(3.75e-6 * DEFAULT_USD_TO_EUR)
    assert sonnet.input / haiku.input == pytest.approx(3.0)
    assert sonnet.output / haiku.output == pytest.approx(3.0)


def _expected(prices: BackendSettings | None = None) -> float:
    p = prices or PRICED
    assert p.input_cost_per_token and p.output_cost_per_token
    assert p.cached_input_cost_per_token and p.cache_write_cost_per_token
    return (
        PLAIN * p.input_cost_per_token
        + READ * p.cached_input_cost_per_token
        + WRITTEN * p.cache_write_cost_per_token
        + OUT * p.output_cost_per_token
    )


def _check_cache_usage(response: ClaudetteResponse) -> None:
    assert response.tokens_input == PLAIN + READ + WRITTEN
    assert (response.tokens_cached_input, response.tokens_cache_write) == (READ, WRITTEN)
    assert response.tokens_output == OUT


async def test_cache_reads_and_writes_are_priced_at_their_own_rates(
    claudette_loopback_server: LoopbackServer,
) -> None:
    server = claudette_loopback_server
    server.script(Reply(200, {"content-type": "application/json"}, fixture_bytes("anthropic-message-cache.json")))
    backend = _backend(PRICED, server.url)
    try:
        response = await backend.send(ClaudetteRequest(prompt="hi"))
    finally:
        await backend.aclose()
    _check_cache_usage(response)
    assert response.cost_eur == pytest.approx(_expected())
    assert response.price_source == "config"


async def test_a_streamed_answer_prices_its_cache_tokens_too(
    claudette_loopback_server: LoopbackServer,
) -> None:
    server = claudette_loopback_server
    server.script(Reply.stream(_events(fixture_bytes("anthropic-message-stream-cache.sse"))))
    backend = _backend(PRICED, server.url)
    try:
        chunks = [c async for c in backend.stream(ClaudetteRequest(prompt="hi"))]
    finally:
        await backend.aclose()
    final = chunks[-1].response
    assert final is not None
    _check_cache_usage(final)
    assert final.cost_eur == pytest.approx(_expected())


async def test_the_table_prices_cache_tokens_at_the_models_cache_rates(
    claudette_loopback_server: LoopbackServer,
) -> None:
    pytest.importorskip("genai_prices")
    server = claudette_loopback_server
    server.script(Reply(200, {"content-type": "application/json"}, fixture_bytes("anthropic-message-cache.json")))
    backend = _backend(BackendSettings(model="claude-sonnet-4-5"), server.url)
    try:
        response = await backend.send(ClaudetteRequest(prompt="hi"))
    finally:
        await backend.aclose()
    rate = 1e-6 * DEFAULT_USD_TO_EUR  # USD per million tokens -> EUR per token
    expected = (PLAIN * 3 + READ * 0.3 + WRITTEN * 3.75 + OUT * 15) * rate
    assert response.cost_eur == pytest.approx(expected)
    assert response.price_source == "price table"
