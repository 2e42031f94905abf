"""The blocking facade as a user meets it first: ``ask`` with options, a router from the config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from claudette import (
    BackendSettings,
    ConfigError,
    SyncRouter,
    Tool,
    open_router,
    router_from_config,
)
from claudette_backend_ollama import OllamaBackend
from claudette_backend_ollama.testing import OllamaEmulator


def _config(path: Path, url: str, capabilities: str = "") -> Path:
    path.write_text(
        f'[backends.local]\nplugin = "ollama"\nbase_url = "{url}"\nmodel = "qwen2.5:7b"\n{capabilities}',
        encoding="utf-8",
    )
    return path


def test_ask_takes_generation_options_as_keywords() -> None:
    with OllamaEmulator(reply="one two three four five") as server:
        with SyncRouter() as router:
            router.router.register_backend(
                OllamaBackend("local", BackendSettings(base_url=server.url, model="qwen2.5:7b"))
            )
            response = router.ask("count", max_tokens=2, temperature=0.5, top_p=0.9, seed=7)
        sent = json.loads([r for r in server.requests if r.path == "/api/chat"][-1].body)
    assert response.content == "one two"
    assert response.finish_reason == "length"
    assert sent["options"] == {"num_predict": 2, "temperature": 0.5, "top_p": 0.9, "seed": 7}


def test_ask_takes_tools_too() -> None:
    weather = Tool("get_weather", "", {"type": "object", "properties": {"city": {"type": "string"}}})
    with OllamaEmulator() as server:
        with SyncRouter() as router:
            router.router.register_backend(
                OllamaBackend("local", BackendSettings(base_url=server.url, model="qwen2.5:7b"))
            )
            response = router.ask("Use get_weather for Bern", tools=[weather], max_tokens=50)
    assert [(c.name, dict(c.arguments)) for c in response.tool_calls] == [("get_weather", {"city": "Bern"})]


def test_sync_router_from_config_file(tmp_path: Path) -> None:
    with OllamaEmulator(reply="configured") as server:
        path = _config(tmp_path / "claudette.toml", server.url, 'capabilities = ["tools"]\n')
        with SyncRouter.from_config(str(path)) as router:
            assert list(router.router.backends) == ["local"]
            assert router.router.backends["local"].capabilities == frozenset({"tools"})
            assert router.ask("hi").content == "configured"


def test_sync_router_from_a_missing_config_says_which_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.toml"):
        SyncRouter.from_config(str(tmp_path / "missing.toml"))


async def test_open_router_reads_the_config_like_the_cli(tmp_path: Path) -> None:
    with OllamaEmulator() as server:
        router = await open_router(str(_config(tmp_path / "c.toml", server.url)))
        try:
            assert list(router.backends) == ["local"]
        finally:
            await router.aclose()
    assert callable(router_from_config)
