"""The README's claudette.toml example builds a router with two Claude backends."""

from __future__ import annotations

import sys

import pytest
from claudette import ClaudettePlugins
from claudette.config import parse_config
from claudette.factory import router_from_config

import claudette_backend_claude.plugin

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

EXAMPLE = """
[backends.claude]
plugin = "claude"

[backends.claude-fast]
plugin = "claude"
model = "claude-haiku-4-5"
input_cost_per_token = 0.00000093
output_cost_per_token = 0.0000047
"""


async def test_readme_example_builds_two_claude_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-config-test-123456")
    config = parse_config(tomllib.loads(EXAMPLE))
    pm = ClaudettePlugins(autoload=False, plugins=[claudette_backend_claude.plugin])
    async with router_from_config(config, plugins=pm) as router:
        backends = router.backends
        assert sorted(backends) == ["claude", "claude-fast"]
        assert backends["claude"].settings.model == "claude-sonnet-4-5"
        assert backends["claude-fast"].settings.model == "claude-haiku-4-5"
        assert backends["claude-fast"].prices.input == pytest.approx(9.3e-7)
        assert backends["claude-fast"].prices.source == "config"
        assert {b.settings.api_key for b in backends.values()} == {"sk-ant-config-test-123456"}
