"""Prices of the qwen backend: the precedence on both deployments, vLLM's cached tokens."""

from __future__ import annotations

import json

import attrs
import pytest
from claudette import BackendSettings, ClaudettePlugins, ClaudetteRequest
from claudette.testing import LoopbackServer, Reply
from claudette.testing.pricing import check_price_precedence, table_blocked

import claudette_backend_qwen.plugin as plugin
from claudette_backend_qwen import QwenBackend

KEY = "sk-dashscope-test-123456"


def _create(settings: BackendSettings) -> QwenBackend:
    pm = ClaudettePlugins(autoload=False, plugins=[plugin])
    backend = pm.registry.create("qwen", settings)
    assert isinstance(backend, QwenBackend)
    return backend


def _dashscope(settings: BackendSettings) -> QwenBackend:
    return _create(attrs.evolve(settings, api_key=KEY, extra={"dashscope_region": "intl"}))


def test_configured_prices_outrank_the_self_hosted_default() -> None:
    check_price_precedence(_create)


def test_configured_prices_are_used_on_dashscope() -> None:
    check_price_precedence(_dashscope)


def test_a_self_hosted_server_is_free_by_the_plugins_default() -> None:
    prices = _create(BackendSettings()).prices
    assert (prices.input, prices.output, prices.source) == (0.0, 0.0, "plugin default")


def test_dashscope_without_a_configured_price_is_unknown_with_or_without_the_table() -> None:
    assert _dashscope(BackendSettings()).prices.source == "unknown"
    with table_blocked():
        assert _dashscope(BackendSettings()).prices.source == "unknown"


async def test_vllm_cached_prompt_tokens_are_priced_at_the_cached_rate(
    claudette_loopback_server: LoopbackServer,
) -> None:
    server = claudette_loopback_server
    body = {
        "id": "chatcmpl-vllm1",
        "object": "chat.completion",
        "model": "Qwen/Qwen2.5-Coder-7B-Instruct",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        # vLLM with --enable-prompt-tokens-details reports the prefix-cache hits like OpenAI.
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 10,
            "total_tokens": 110,
            "prompt_tokens_details": {"cached_tokens": 64},
        },
    }
    server.script(Reply(200, {"content-type": "application/json"}, json.dumps(body).encode()))
    backend = _create(
        BackendSettings(
            base_url=f"{server.url}/v1",
            cost_per_token=1e-6,
            cached_input_cost_per_token=1e-7,
            verify_tls=False,
        )
    )
    try:
        response = await backend.send(ClaudetteRequest(prompt="hi"))
    finally:
        await backend.aclose()
    assert (response.tokens_input, response.tokens_cached_input) == (100, 64)
    assert response.cost_eur == pytest.approx(36 * 1e-6 + 64 * 1e-7 + 10 * 1e-6)
