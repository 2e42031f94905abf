"""Prices of the openai backend: the precedence, the price table, every token class."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from claudette import BackendSettings, ClaudetteRequest, ClaudetteResponse
from claudette.pricing import DEFAULT_USD_TO_EUR
from claudette.testing import LoopbackServer, Reply
from claudette.testing.pricing import check_price_precedence, table_blocked

from claudette_backend_openai import OpenAIBackend

#: The recorded usage: 2006 prompt tokens of which 1920 cached, 300 generated of which
#: 256 reasoning.
PROMPT, CACHED, OUT, REASONING = 2006, 1920, 300, 256
PRICED = {
    "input_cost_per_token": 1e-6,
    "output_cost_per_token": 4e-6,
    "cached_input_cost_per_token": 5e-7,
}
EXPECTED = (PROMPT - CACHED) * 1e-6 + CACHED * 5e-7 + OUT * 4e-6


def _backend(settings: BackendSettings) -> OpenAIBackend:
    return OpenAIBackend("openai", settings.with_defaults(BackendSettings(api_key="sk-test-0123456789")))


def test_configured_prices_outrank_the_table() -> None:
    check_price_precedence(_backend)


def test_configured_price_beats_the_table_for_a_known_model() -> None:
    backend = _backend(BackendSettings(model="gpt-4o", cost_per_token=1e-5))
    assert backend.cost_for_usage(4, 5) == pytest.approx(9e-5)
    assert backend.prices.source == "config"


def test_without_the_table_an_unpriced_model_is_unknown() -> None:
    with table_blocked():
        prices = _backend(BackendSettings(model="gpt-4o")).prices
    assert (prices.known, prices.source) == (False, "unknown")


def test_the_table_prices_follow_the_model() -> None:
    pytest.importorskip("genai_prices")
    big = _backend(BackendSettings(model="gpt-4o")).prices
    mini = _backend(BackendSettings(model="gpt-4o-mini")).prices
    assert (big.source, mini.source) == ("price table", "price table")
    # List prices in USD per million tokens: gpt-4o 2.50 / 10, gpt-4o-mini 0.15 / 0.60.
    assert mini.input == pytest.approx(0.15e-6 * DEFAULT_USD_TO_EUR)
    assert mini.output == pytest.approx(0.60e-6 * DEFAULT_USD_TO_EUR)
    assert mini.cached_input == pytest.approx(0.075e-6 * DEFAULT_USD_TO_EUR)
    assert big.input / mini.input == pytest.approx(16.67, rel=1e-3)
    assert big.output / mini.output == pytest.approx(16.67, rel=1e-3)


def test_the_configured_exchange_rate_converts_the_table() -> None:
    pytest.importorskip("genai_prices")
    backend = _backend(BackendSettings(model="gpt-4o-mini"))
    backend.use_pricing(usd_to_eur=1.0, unknown_price_policy="most_expensive")
    assert backend.prices.input == pytest.approx(0.15e-6)


def _check_usage(response: ClaudetteResponse) -> None:
    assert (response.tokens_input, response.tokens_cached_input) == (PROMPT, CACHED)
    assert (response.tokens_output, response.tokens_reasoning) == (OUT, REASONING)
    assert response.tokens_cache_write == 0


async def test_cached_and_reasoning_tokens_are_read_and_priced(
    claudette_loopback_server: LoopbackServer,
    transcript: Callable[[str], bytes],
    make_backend: Callable[..., OpenAIBackend],
) -> None:
    server = claudette_loopback_server
    server.script(
        Reply(200, {"content-type": "application/json"}, transcript("openai-chat-cached-reasoning.json"))
    )
    backend = make_backend(f"{server.url}/v1", model="o3-mini", **PRICED)
    response = await backend.send(ClaudetteRequest(prompt="hi"))
    _check_usage(response)
    # Reasoning tokens are output tokens, billed at the output rate.
    assert response.cost_eur == pytest.approx(EXPECTED)


async def test_a_stream_reads_and_prices_them_from_its_usage_chunk(
    claudette_loopback_server: LoopbackServer,
    transcript: Callable[[str], bytes],
    make_backend: Callable[..., OpenAIBackend],
) -> None:
    server = claudette_loopback_server
    raw = transcript("openai-chat-stream-cached-reasoning.sse").decode()
    server.script(Reply.stream([e + "\n\n" for e in raw.split("\n\n") if e.strip()]))
    backend = make_backend(f"{server.url}/v1", model="o3-mini", **PRICED)
    chunks = [c async for c in backend.stream(ClaudetteRequest(prompt="hi"))]
    final = chunks[-1].response
    assert final is not None and final.content == "Forty-two."
    _check_usage(final)
    assert final.cost_eur == pytest.approx(EXPECTED)


async def test_the_table_prices_cached_tokens_at_the_models_cache_rate(
    claudette_loopback_server: LoopbackServer,
    transcript: Callable[[str], bytes],
    make_backend: Callable[..., OpenAIBackend],
) -> None:
    pytest.importorskip("genai_prices")
    server = claudette_loopback_server
    server.script(
        Reply(200, {"content-type": "application/json"}, transcript("openai-chat-cached-reasoning.json"))
    )
    backend = make_backend(f"{server.url}/v1", model="o3-mini")
    response = await backend.send(ClaudetteRequest(prompt="hi"))
    # o3-mini in USD per million tokens: 1.10 input, 0.55 cached input, 4.40 output.
    expected = ((PROMPT - CACHED) * 1.10 + CACHED * 0.55 + OUT * 4.40) * 1e-6 * DEFAULT_USD_TO_EUR
    assert response.cost_eur == pytest.approx(expected)
    assert response.price_source == "price table"


async def test_an_unknown_configured_model_is_priced_by_the_reported_one(
    claudette_loopback_server: LoopbackServer,
    transcript: Callable[[str], bytes],
    make_backend: Callable[..., OpenAIBackend],
) -> None:
    pytest.importorskip("genai_prices")
    server = claudette_loopback_server
    server.script(
        Reply(200, {"content-type": "application/json"}, transcript("openai-chat-cached-reasoning.json"))
    )
    backend = make_backend(f"{server.url}/v1", model="my-reasoner-alias")
    assert backend.prices.source == "unknown"
    response = await backend.send(ClaudetteRequest(prompt="hi"))
    assert response.model == "o3-mini-2025-01-31"
    assert response.price_source == "price table"
    assert response.cost_eur > 0
