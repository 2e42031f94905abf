"""Registration through the plugin manager, defaults, and routing with fallback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from claudette import (
    BackendRouter,
    BackendSettings,
    ClaudettePlugins,
    ClaudetteRequest,
    RouterOptions,
)
from claudette.errors import AuthenticationError, ConfigError

import claudette_backend_openai
from claudette_backend_openai import OpenAIBackend, plugin
from claudette_backend_openai.testing import ChatFault, OpenAIEmulator


@pytest.fixture
def pm() -> ClaudettePlugins:
    """An isolated plugin manager holding only this plugin."""
    return ClaudettePlugins(autoload=False, plugins=[plugin])


@pytest.fixture(autouse=True)
def _no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def test_plugin_registers_openai(pm: ClaudettePlugins) -> None:
    assert pm.registry.get("openai").cls is OpenAIBackend


def test_create_with_empty_settings_uses_defaults(pm: ClaudettePlugins) -> None:
    backend = pm.registry.create("openai", BackendSettings())
    s = backend.settings
    assert isinstance(backend, OpenAIBackend)
    assert (s.model, s.base_url, s.api_key_env, s.backend_type) == (
        "gpt-4o-mini",
        "https://api.openai.com/v1",
        "OPENAI_API_KEY",
        "cloud",
    )
    # No price of its own: the config's, else the price table's, else unknown.
    assert (s.cost_per_token, s.input_cost_per_token, s.output_cost_per_token) == (None, None, None)


def test_key_is_read_from_the_environment(
    pm: ClaudettePlugins, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key-123456")
    assert pm.registry.create("openai").settings.api_key == "sk-env-key-123456"


def test_base_url_env_applies_when_base_url_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    pm = ClaudettePlugins(autoload=False, plugins=[plugin])
    assert pm.registry.create("openai").settings.base_url == "http://127.0.0.1:9/v1"


def test_base_url_env_applies_to_direct_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert OpenAIBackend("o").settings.base_url == "http://127.0.0.1:9/v1"


def test_explicit_base_url_beats_the_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    backend = OpenAIBackend("o", BackendSettings(base_url="http://127.0.0.1:10/v1"))
    assert backend.settings.base_url == "http://127.0.0.1:10/v1"


def test_invalid_base_url_env_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "ftp://nope")
    assert OpenAIBackend("o").settings.base_url == "https://api.openai.com/v1"


def test_validation_requires_a_key(pm: ClaudettePlugins) -> None:
    backend = pm.registry.create("openai", BackendSettings())
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        backend.validate_config()


def test_compatible_server_needs_no_key() -> None:
    OpenAIBackend("o", BackendSettings(base_url="http://127.0.0.1:8080/v1")).validate_config()


def test_validation_rejects_an_unknown_token_field() -> None:
    backend = OpenAIBackend(
        "o", BackendSettings(api_key="sk-x-123456", extra={"max_tokens_field": "tokens"})
    )
    with pytest.raises(ConfigError, match="max_tokens_field"):
        backend.validate_config()


def test_entry_point_is_declared() -> None:
    from importlib.metadata import entry_points

    eps = {ep.name: ep.value for ep in entry_points(group="claudette.backends")}
    assert eps["openai"] == "claudette_backend_openai.plugin"


def test_package_version() -> None:
    assert claudette_backend_openai.__version__ == "0.1.0"


@pytest.fixture
def second_emulator(api_key: str) -> Iterator[OpenAIEmulator]:
    """A second OpenAI emulator, for fallback."""
    with OpenAIEmulator(api_key=api_key) as emu:
        yield emu


def _router(pm: ClaudettePlugins, api_key: str, *urls: tuple[str, str, int]) -> BackendRouter:
    # priority alone decides the order (no cost or latency preference)
    router = BackendRouter(
        RouterOptions(
            cost_weight=0.0, latency_weight=0.0, availability_weight=1.0, health_checks=False
        ),
        plugins=pm,
    )
    for name, url, priority in urls:
        settings = BackendSettings(
            base_url=url, api_key=api_key, priority=priority, timeout=5, verify_tls=False
        )
        router.register_backend(pm.registry.create("openai", settings, instance_name=name))
    return router


async def test_router_falls_back_from_a_failing_backend(
    pm: ClaudettePlugins, emulator: OpenAIEmulator, second_emulator: OpenAIEmulator, api_key: str
) -> None:
    emulator.fail_always(ChatFault.overloaded())
    async with _router(
        pm, api_key, ("first", emulator.base_url, 1), ("second", second_emulator.base_url, 2)
    ) as router:
        response = await router.route_request(ClaudetteRequest(prompt="hello"))
    assert (response.backend_used, response.content) == ("second", "Echo: hello")
    assert response.metadata["failed_backends"] == ["first"]
    assert (emulator.chat_count, second_emulator.chat_count) == (1, 1)


async def test_router_stream_falls_back_before_the_first_chunk(
    pm: ClaudettePlugins, emulator: OpenAIEmulator, second_emulator: OpenAIEmulator, api_key: str
) -> None:
    emulator.fail_always(ChatFault.rate_limit(retry_after=30))
    async with _router(
        pm, api_key, ("first", emulator.base_url, 1), ("second", second_emulator.base_url, 2)
    ) as router:
        chunks = [c async for c in router.stream(ClaudetteRequest(prompt="hello"))]
    final = chunks[-1].response
    assert final is not None and final.backend_used == "second"
    assert "".join(c.text for c in chunks) == "Echo: hello"


async def test_router_falls_back_on_a_bad_key_and_keeps_that_backend_out(
    pm: ClaudettePlugins, emulator: OpenAIEmulator, second_emulator: OpenAIEmulator, api_key: str
) -> None:
    emulator.fail_always(ChatFault.unauthorized())
    async with _router(
        pm, api_key, ("first", emulator.base_url, 1), ("second", second_emulator.base_url, 2)
    ) as router:
        answers = [await router.route_request(ClaudetteRequest(prompt=f"hello {i}")) for i in range(3)]
        [first] = [i for i in router.backend_infos() if i.name == "first"]
    assert [a.backend_used for a in answers] == ["second"] * 3
    assert emulator.chat_count == 1 and second_emulator.chat_count == 3
    assert first.misconfigured is not None and "HTTP 401" in first.misconfigured


async def test_router_raises_the_key_error_when_the_only_backend_has_a_bad_key(
    pm: ClaudettePlugins, emulator: OpenAIEmulator, api_key: str
) -> None:
    emulator.fail_always(ChatFault.unauthorized())
    async with _router(pm, api_key, ("first", emulator.base_url, 1)) as router:
        with pytest.raises(AuthenticationError):
            await router.route_request(ClaudetteRequest(prompt="hello"))


async def test_router_counts_the_emulators_tokens(
    pm: ClaudettePlugins, emulator: OpenAIEmulator, second_emulator: OpenAIEmulator, api_key: str
) -> None:
    async with _router(pm, api_key, ("first", emulator.base_url, 1)) as router:
        for prompt in ("one", "two three", "four five six"):
            await router.route_request(ClaudetteRequest(prompt=prompt))
        counters = router.counters
    assert (counters.tokens_input, counters.tokens_output) == (
        emulator.prompt_tokens_reported,
        emulator.completion_tokens_reported,
    )
