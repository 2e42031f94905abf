"""The price precedence every backend obeys, as checks a plugin's tests call.

:func:`check_price_precedence` builds backends from settings with a factory the plugin
provides and asserts the order of :mod:`claudette.pricing`: explicit per-direction prices
beat ``cost_per_token``, which beats the price table and the plugin's default, for the
configured prices and for the cost of an answer alike. :func:`table_blocked` makes the
price table unimportable for a block of code, to test what a user without the
``[prices]`` extra gets.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from claudette import pricing
from claudette.backend import BaseBackend
from claudette.types import BackendSettings

__all__ = ["check_price_precedence", "table_blocked"]


@contextmanager
def table_blocked() -> Iterator[None]:
    """Inside the block ``import genai_prices`` fails, as without the ``[prices]`` extra,
    and no price looked up before is reused."""
    saved_modules = {k: v for k, v in sys.modules.items() if k.split(".")[0] == "genai_prices"}
    pricing.clear_price_cache()
    for name in saved_modules:
        del sys.modules[name]
    sys.modules["genai_prices"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        del sys.modules["genai_prices"]
        sys.modules.update(saved_modules)
        pricing.clear_price_cache()


def check_price_precedence(make: Callable[[BackendSettings], BaseBackend]) -> None:
    """Assert the precedence of configured prices on backends built by ``make(settings)``.

    ``make`` gets only price fields; it adds what else the backend needs (a key, a URL).
    """
    flat = make(BackendSettings(cost_per_token=1e-5))
    assert (flat.prices.input, flat.prices.output, flat.prices.source) == (1e-5, 1e-5, "config")
    # 4 prompt and 5 generated tokens at 1e-5 each: the README's example.
    assert flat.cost_for_usage(4, 5) == pytest.approx(9e-5)

    split = make(BackendSettings(cost_per_token=1e-5, input_cost_per_token=2e-6))
    assert (split.prices.input, split.prices.output) == (2e-6, 1e-5)
    assert split.cost_for_usage(4, 5) == pytest.approx(4 * 2e-6 + 5 * 1e-5)

    both = make(
        BackendSettings(cost_per_token=1e-5, input_cost_per_token=3e-6, output_cost_per_token=7e-6)
    )
    assert (both.prices.input, both.prices.output) == (3e-6, 7e-6)

    free = make(BackendSettings(cost_per_token=0.0))
    assert free.prices.is_free and free.prices.source == "config"

    cached = make(BackendSettings(cost_per_token=1e-5, cached_input_cost_per_token=1e-6))
    assert cached.cost_for_usage(10, 0, cached_input=6) == pytest.approx(4 * 1e-5 + 6 * 1e-6)
