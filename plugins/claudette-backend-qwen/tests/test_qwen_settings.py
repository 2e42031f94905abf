"""Qwen's defaults, and the choice between a self-hosted server and DashScope."""

from __future__ import annotations

import pytest
from claudette import BackendSettings, ClaudettePlugins
from claudette.errors import ConfigError

import claudette_backend_qwen.plugin as plugin
from claudette_backend_qwen import DASHSCOPE_BASE_URLS, QwenBackend, is_dashscope_url, server_root

KEY = "sk-dashscope-test-123456"


def _create(**settings: object) -> QwenBackend:
    pm = ClaudettePlugins(autoload=False, plugins=[plugin])
    backend = pm.registry.create("qwen", BackendSettings(**settings))  # type: ignore[arg-type]
    assert isinstance(backend, QwenBackend)
    return backend


def test_defaults_are_a_free_local_vllm_server() -> None:
    backend = _create()
    s = backend.settings
    assert (s.base_url, s.backend_type, s.model) == (
        "http://localhost:8000/v1",
        "self_hosted",
        "Qwen/Qwen2.5-Coder-7B-Instruct",
    )
    prices = backend.prices
    assert (prices.input, prices.output, prices.source) == (0.0, 0.0, "plugin default")


def test_default_temperature_is_low_for_code() -> None:
    assert _create().settings.temperature == 0.2


def test_direct_construction_gets_the_same_defaults() -> None:
    assert QwenBackend("q").settings.base_url == "http://localhost:8000/v1"


def test_defaults_validate_without_a_key() -> None:
    _create().validate_config()


@pytest.mark.parametrize("region", ["intl", "cn", "us"])
def test_region_with_env_key_selects_dashscope(
    region: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", KEY)
    backend = _create(extra={"dashscope_region": region})
    assert backend.settings.base_url == DASHSCOPE_BASE_URLS[region]
    assert (backend.settings.backend_type, backend.settings.api_key, backend.is_dashscope) == (
        "cloud",
        KEY,
        True,
    )


def test_dashscope_urls_are_the_compatible_mode_endpoints() -> None:
    assert DASHSCOPE_BASE_URLS == {
        "intl": "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        "cn": "https://dashscope.aliyuncs.com/compatible-mode/v1",
        "us": "https://dashscope-us.aliyuncs.com/compatible-mode/v1",
    }


def test_region_with_explicit_key_selects_dashscope() -> None:
    backend = _create(api_key=KEY, extra={"dashscope_region": "cn"})
    assert backend.settings.base_url == DASHSCOPE_BASE_URLS["cn"]


def test_dashscope_has_a_cloud_model_and_no_price_of_its_own() -> None:
    backend = _create(api_key=KEY, extra={"dashscope_region": "intl"})
    assert backend.settings.model == "qwen-plus"
    # DashScope's prices are in no price table and the plugin types none: unknown.
    assert (backend.prices.known, backend.prices.source) == (False, "unknown")


def test_configured_prices_are_kept_on_dashscope() -> None:
    prices = _create(api_key=KEY, cost_per_token=1e-6, extra={"dashscope_region": "intl"}).prices
    assert (prices.input, prices.output, prices.source) == (1e-6, 1e-6, "config")


def test_region_without_a_key_stays_local_and_is_reported() -> None:
    backend = _create(extra={"dashscope_region": "intl"})
    assert backend.settings.base_url == "http://localhost:8000/v1"
    with pytest.raises(ConfigError, match="DASHSCOPE_API_KEY"):
        backend.validate_config()


def test_unknown_region_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", KEY)
    backend = _create(extra={"dashscope_region": "eu"})
    assert backend.settings.backend_type == "self_hosted"
    with pytest.raises(ConfigError, match="dashscope_region"):
        backend.validate_config()


def test_dashscope_base_url_means_cloud(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", KEY)
    backend = _create(base_url=DASHSCOPE_BASE_URLS["us"])
    assert (backend.settings.backend_type, backend.settings.api_key) == ("cloud", KEY)


def test_dashscope_base_url_without_key_is_reported() -> None:
    backend = _create(base_url=DASHSCOPE_BASE_URLS["us"])
    with pytest.raises(ConfigError, match="api_key"):
        backend.validate_config()


def test_explicit_base_url_beats_the_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", KEY)
    backend = _create(base_url="http://gpu-box:8000/v1", extra={"dashscope_region": "intl"})
    assert (backend.settings.base_url, backend.settings.backend_type) == (
        "http://gpu-box:8000/v1",
        "self_hosted",
    )


def test_dashscope_key_is_not_sent_to_a_self_hosted_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", KEY)
    backend = _create(base_url="http://gpu-box:8000/v1")
    assert backend.settings.api_key is None
    assert "Authorization" not in backend.request_headers()


def test_self_hosted_key_from_another_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_API_KEY", "vllm-key-123456")
    backend = _create(base_url="http://gpu-box:8000/v1", api_key_env="VLLM_API_KEY")
    assert backend.request_headers()["Authorization"] == "Bearer vllm-key-123456"


def test_unknown_health_mode_is_reported() -> None:
    with pytest.raises(ConfigError, match="health"):
        _create(extra={"health": "ping"}).validate_config()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://dashscope-intl.aliyuncs.com/compatible-mode/v1", True),
        ("https://dashscope.aliyuncs.com/compatible-mode/v1", True),
        ("http://localhost:8000/v1", False),
        ("https://evil.example/dashscope.aliyuncs.com", False),
        (None, False),
    ],
)
def test_is_dashscope_url(url: str | None, expected: bool) -> None:
    assert is_dashscope_url(url) is expected


@pytest.mark.parametrize(
    ("base", "root"),
    [
        ("http://h:8000/v1", "http://h:8000"),
        ("http://h:8000/v1/", "http://h:8000"),
        ("http://h/api", "http://h/api"),
    ],
)
def test_server_root(base: str, root: str) -> None:
    assert server_root(base) == root
