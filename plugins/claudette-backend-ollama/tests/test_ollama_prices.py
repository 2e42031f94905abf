"""Prices of the ollama backend: configured prices beat the plugin's free default."""

from __future__ import annotations

from claudette import BackendSettings
from claudette.testing.pricing import check_price_precedence, table_blocked

from claudette_backend_ollama import OllamaBackend


def test_configured_prices_outrank_the_free_default() -> None:
    check_price_precedence(lambda s: OllamaBackend("ollama", s))


def test_unpriced_it_is_free_by_the_plugins_default_with_or_without_the_table() -> None:
    prices = OllamaBackend("ollama", BackendSettings(model="llama3.2:1b")).prices
    assert (prices.is_free, prices.source) == (True, "plugin default")
    with table_blocked():
        assert OllamaBackend("ollama").prices.source == "plugin default"
