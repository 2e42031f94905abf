"""Prices: where each comes from, unknown prices and their policy, the price table."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from _support import FakeBackend
from claudette import BackendRouter, BackendSettings, ClaudetteRequest, RouterOptions, TokenPrices
from claudette.options import preset_weights
from claudette.plugins import ClaudettePlugins
from claudette.pricing import DEFAULT_USD_TO_EUR, resolve_prices
from claudette.testing.pricing import table_blocked


class Unpriced(FakeBackend):
    """A backend of a plugin that declares no price (a cloud API without a list price)."""

    def default_prices(self) -> TokenPrices | None:
        return None


def _router(*backends: FakeBackend, **options: object) -> BackendRouter:
    router = BackendRouter(
        RouterOptions(health_checks=False, **options),  # type: ignore[arg-type]
        plugins=ClaudettePlugins(autoload=False),
    )
    for backend in backends:
        router.register_backend(backend)
    return router


# -- precedence -------------------------------------------------------------------------


def test_each_direction_takes_the_first_source_that_has_it() -> None:
    default = TokenPrices(1.0, 2.0, source="plugin default")
    only_input = resolve_prices(BackendSettings(input_cost_per_token=0.5), plugin_default=default)
    assert (only_input.input, only_input.output) == (0.5, 2.0)
    assert only_input.source == "config + plugin default"
    flat = resolve_prices(BackendSettings(cost_per_token=0.1), plugin_default=default)
    assert (flat.input, flat.output, flat.source) == (0.1, 0.1, "config")


def test_cache_rates_follow_the_input_price_unless_configured() -> None:
    table_like = TokenPrices(1.0, 2.0, 0.1, 1.25, "price table")
    configured = resolve_prices(BackendSettings(cost_per_token=0.5), plugin_default=table_like)
    assert (configured.cached_input, configured.cache_write) == (0.5, 0.5)
    inherited = resolve_prices(BackendSettings(), plugin_default=table_like)
    assert (inherited.cached_input, inherited.cache_write) == (0.1, 1.25)
    own = resolve_prices(
        BackendSettings(cost_per_token=0.5, cached_input_cost_per_token=0.05), plugin_default=table_like
    )
    assert own.cached_input == 0.05


def test_a_price_from_nowhere_is_unknown_never_zero() -> None:
    prices = resolve_prices(BackendSettings())
    assert (prices.input, prices.output, prices.source, prices.known) == (None, None, "unknown", False)
    assert prices.cost(100, 100) is None
    assert not prices.is_free


# -- unknown prices ------------------------------------------------------------------------


async def test_an_unknown_price_is_scored_as_the_most_expensive_by_default() -> None:
    assert RouterOptions().unknown_price_policy == "most_expensive"
    unknown = Unpriced("unknown")
    paid = FakeBackend("paid", BackendSettings(model="m", cost_per_token=1e-6))
    router = _router(unknown, paid)
    explained = {c.name: c for c in router.explain(ClaudetteRequest(prompt="hi"))}
    assert explained["unknown"].parts is not None and explained["unknown"].parts.cost == 1.0
    assert explained["paid"].chosen
    response = await router.route_request(ClaudetteRequest(prompt="hi", backend="unknown"))
    assert (response.cost_eur, response.price_source) == (0.0, "unknown")


async def test_the_free_policy_scores_an_unknown_price_as_free() -> None:
    unknown = Unpriced("unknown")
    paid = FakeBackend("paid", BackendSettings(model="m", cost_per_token=1e-4))
    router = _router(unknown, paid, unknown_price_policy="free")
    explained = {c.name: c for c in router.explain(ClaudetteRequest(prompt="hi"))}
    assert explained["unknown"].parts is not None and explained["unknown"].parts.cost == 0.0
    assert (await router.route_request(ClaudetteRequest(prompt="hi"))).backend_used == "unknown"


async def test_the_refuse_policy_never_selects_an_unknown_price() -> None:
    unknown = Unpriced("unknown")
    paid = FakeBackend("paid", BackendSettings(model="m", cost_per_token=1e-2))
    router = _router(unknown, paid, unknown_price_policy="refuse")
    explained = {c.name: c for c in router.explain(ClaudetteRequest(prompt="hi"))}
    assert explained["unknown"].skipped == 'price unknown (unknown_price_policy = "refuse")'
    for _ in range(3):
        assert (await router.route_request(ClaudetteRequest(prompt="hi"))).backend_used == "paid"
    assert unknown.calls == 0


def test_the_policy_and_rate_are_configurable_and_checked() -> None:
    from claudette.config import parse_config
    from claudette.errors import ConfigError

    config = parse_config({"router": {"usd_to_eur": 0.85, "unknown_price_policy": "free"}})
    assert (config.router.usd_to_eur, config.router.unknown_price_policy) == (0.85, "free")
    with pytest.raises(ConfigError, match="unknown_price_policy"):
        parse_config({"router": {"unknown_price_policy": "cheap"}})
    with pytest.raises(ConfigError, match="usd_to_eur"):
        parse_config({"router": {"usd_to_eur": 0}})


def test_the_router_gives_its_rate_and_policy_to_each_backend() -> None:
    backend = Unpriced("u")
    _router(backend, usd_to_eur=0.5, unknown_price_policy="refuse")
    assert (backend.usd_to_eur, backend.unknown_price_policy) == (0.5, "refuse")


# -- the price table -------------------------------------------------------------------------


def _openai(model: str, url: str) -> object:
    from claudette_backend_openai import OpenAIBackend

    return OpenAIBackend(model, BackendSettings(model=model, base_url=url, api_key="sk-test-0123456789"))


async def test_with_the_table_gpt_4o_costs_16_7_times_gpt_4o_mini_and_the_router_picks_the_cheaper() -> None:
    pytest.importorskip("genai_prices")
    from claudette_backend_openai.testing import OpenAIEmulator

    with OpenAIEmulator(api_key="sk-test-0123456789", models=("gpt-4o", "gpt-4o-mini")) as emu:
        big, mini = _openai("gpt-4o", emu.base_url), _openai("gpt-4o-mini", emu.base_url)
        async with _router(big, mini, **preset_weights("cost-optimized")) as router:
            request = ClaudetteRequest(prompt="Say hello in one word.")
            a = await router.route_request(ClaudetteRequest(prompt=request.prompt, backend="gpt-4o"))
            b = await router.route_request(ClaudetteRequest(prompt=request.prompt, backend="gpt-4o-mini"))
            assert (a.tokens_input, a.tokens_output) == (b.tokens_input, b.tokens_output)
            assert (a.price_source, b.price_source) == ("price table", "price table")
            assert a.cost_eur / b.cost_eur == pytest.approx(2.5 / 0.15, rel=1e-6)
            # In EUR at the configured rate: gpt-4o-mini lists USD 0.15 / 0.60 per million.
            assert b.cost_eur == pytest.approx(
                (b.tokens_input * 0.15 + b.tokens_output * 0.60) * 1e-6 * DEFAULT_USD_TO_EUR
            )
            assert (await router.route_request(request)).backend_used == "gpt-4o-mini"


async def test_with_the_table_sonnet_costs_3_times_haiku() -> None:
    pytest.importorskip("genai_prices")
    from claudette_backend_claude import ClaudeBackend
    from claudette_backend_claude.testing import AnthropicEmulator

    with AnthropicEmulator() as emu:
        costs = {}
        for model in ("claude-sonnet-4-5", "claude-haiku-4-5"):
            backend = ClaudeBackend(model, emu.settings(model=model))
            try:
                response = await backend.send(ClaudetteRequest(prompt="hi"))
            finally:
                await backend.aclose()
            assert response.price_source == "price table"
            costs[model] = response.cost_eur
    assert costs["claude-sonnet-4-5"] / costs["claude-haiku-4-5"] == pytest.approx(3.0)


async def test_without_the_table_the_same_configuration_answers_with_unknown_prices() -> None:
    from claudette_backend_openai.testing import OpenAIEmulator

    with table_blocked(), OpenAIEmulator(api_key="sk-test-0123456789", models=("gpt-4o", "gpt-4o-mini")) as emu:
        big, mini = _openai("gpt-4o", emu.base_url), _openai("gpt-4o-mini", emu.base_url)
        async with _router(big, mini) as router:
            response = await router.route_request(ClaudetteRequest(prompt="hi"))
            assert (response.cost_eur, response.price_source) == (0.0, "unknown")
            assert big.prices.source == mini.prices.source == "unknown"  # type: ignore[attr-defined]


def test_lookups_never_start_the_tables_update_fetcher(monkeypatch: pytest.MonkeyPatch) -> None:
    genai_prices = pytest.importorskip("genai_prices")
    from claudette import pricing

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the price table tried to update itself over the network")

    monkeypatch.setattr(genai_prices.UpdatePrices, "start", refuse)
    monkeypatch.setattr(genai_prices.UpdatePrices, "fetch", refuse)
    pricing.clear_price_cache()
    prices = pricing.table_prices("openai", "gpt-4o", 1.0)
    assert prices is not None and prices.input == pytest.approx(2.5e-6)


PROBE = """
import json, sys
import claudette
before = "genai_prices" in sys.modules
from claudette import BackendRouter, BackendSettings, ClaudettePlugins, RouterOptions
from claudette_backend_openai import OpenAIBackend
backend = OpenAIBackend("o", BackendSettings(model="gpt-4o", api_key="sk-test-0123456789"))
after_construction = "genai_prices" in sys.modules
router = BackendRouter(RouterOptions(health_checks=False), plugins=ClaudettePlugins(autoload=False))
router.register_backend(backend)
print(json.dumps({
    "on_import": before,
    "on_construction": after_construction,
    "on_registration": "genai_prices" in sys.modules,
    "source": backend.prices.source,
}))
"""


def test_the_table_is_imported_on_the_first_lookup_never_by_import_claudette() -> None:
    pytest.importorskip("genai_prices")
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    found = json.loads(out.stdout)
    assert found == {
        "on_import": False,
        "on_construction": False,
        "on_registration": True,
        "source": "price table",
    }


def test_a_provider_reporting_ever_new_models_causes_a_bounded_number_of_lookups(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import claudette.backend as backend_module

    calls: list[tuple[str | None, ...]] = []
    real = backend_module.resolve_prices

    def counting(settings: BackendSettings, **kw: object) -> TokenPrices:
        calls.append(kw["models"])  # type: ignore[arg-type]
        return real(settings, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(backend_module, "resolve_prices", counting)
    backend = Unpriced("u")
    for i in range(200):
        assert backend.prices_for(f"model-{i}").source == "unknown"
    assert len(calls) <= 10


def test_token_classes_are_kept_within_the_counts_they_are_part_of() -> None:
    backend = FakeBackend("a", BackendSettings(model="m", cost_per_token=1e-6))
    response = backend.create_success_response(
        "x", 100, 10, 1.0, tokens_cached_input=10**9, tokens_cache_write=50, tokens_reasoning=-5
    )
    assert (response.tokens_cached_input, response.tokens_cache_write) == (100, 0)
    assert response.tokens_reasoning == 0
    assert response.cost_eur == pytest.approx(110 * 1e-6)
