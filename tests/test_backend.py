"""BaseBackend: health cache, costs, token estimates, info, config validation."""

from __future__ import annotations

import asyncio

import pytest
from _support import FakeBackend, settings
from claudette import Backend, BackendSettings, ClaudetteRequest, ConfigError
from claudette.backend import BatchCapable


async def test_health_check_is_cached_for_its_ttl():
    b = FakeBackend("a", settings(health_check_ttl=60))
    assert await b.is_available()
    assert await b.is_available()
    assert b.health_calls == 1


async def test_health_check_is_rerun_after_the_ttl():
    b = FakeBackend("a", settings(health_check_ttl=0))
    await b.is_available()
    await b.is_available()
    assert b.health_calls == 2


async def test_concurrent_health_checks_share_one_call():
    b = FakeBackend("a")
    results = await asyncio.gather(*(b.is_available() for _ in range(50)))
    assert all(results)
    assert b.health_calls == 1


async def test_a_raising_health_check_means_unhealthy():
    class Raises(FakeBackend):
        async def health_check(self) -> bool:
            raise OSError("no route")

    b = Raises("a")
    assert await b.is_available() is False
    assert b.healthy is False


async def test_disabled_backend_is_never_available():
    b = FakeBackend("a", settings(enabled=False))
    assert await b.is_available() is False
    assert b.health_calls == 0


def test_cost_uses_input_and_output_prices():
    b = FakeBackend("a", settings(input_cost_per_token=1e-6, output_cost_per_token=4e-6))
    assert b.cost_for_usage(100, 10) == pytest.approx(1e-4 + 4e-5)
    assert b.estimate_cost(10) == pytest.approx(10 * 2.5e-6)


def test_response_without_reported_usage_is_estimated_and_marked():
    b = FakeBackend("a", settings(cost_per_token=1e-6))
    req = ClaudetteRequest(prompt="x" * 40)
    r = b.create_success_response("y" * 8, None, None, 12.0, request=req)
    assert (r.tokens_input, r.tokens_output) == (10, 2)
    assert r.metadata["usage_estimated"] is True
    assert r.cost_eur == pytest.approx(12 * 1e-6)


def test_response_with_reported_usage_is_not_marked_estimated():
    r = FakeBackend("a").create_success_response("y", 3, 4, 1.0)
    assert "usage_estimated" not in r.metadata


def test_estimate_tokens_is_about_four_characters_each():
    b = FakeBackend("a")
    assert (b.estimate_tokens(""), b.estimate_tokens("abcd"), b.estimate_tokens("abcde")) == (0, 1, 2)


def test_get_info_reports_price_latency_and_success_rate():
    b = FakeBackend("a", settings(priority=3, cost_per_token=2e-6, backend_type="self_hosted", timeout=9))
    b.record_latency(100)
    b.record_latency(300)
    info = b.get_info()
    assert (info.name, info.type, info.priority, info.cost_per_token) == ("a", "self_hosted", 3, 2e-6)
    assert (info.avg_latency, info.current_timeout, info.success_rate) == (200.0, 9.0, 1.0)
    assert b.get_latency_score() == pytest.approx(0.02)


def test_validate_config_lists_every_problem():
    class NeedsAll(FakeBackend):
        requires_api_key = True
        requires_base_url = True

    with pytest.raises(ConfigError) as info:
        NeedsAll("x", BackendSettings(api_key_env="X_KEY_UNSET_1")).validate_config()
    paths = [p.path for p in info.value.problems]
    assert paths == ["backends.x.api_key", "backends.x.base_url", "backends.x.model"]
    assert "X_KEY_UNSET_1" in str(info.value)


def test_api_key_is_read_from_its_environment_variable(monkeypatch):
    monkeypatch.setenv("MY_TEST_KEY_VAR", "sk-env-abcdef-1")
    b = FakeBackend("a", settings(api_key_env="MY_TEST_KEY_VAR"))
    assert b.settings.api_key == "sk-env-abcdef-1"
    assert "sk-env-abcdef-1" not in repr(b.settings)


async def test_owned_client_is_closed_injected_client_is_not():
    import httpx

    own = FakeBackend("a", settings(base_url="http://127.0.0.1:9"))
    client = own.client
    await own.aclose()
    assert client.is_closed
    injected = httpx.AsyncClient()
    b = FakeBackend("b", client=injected)
    await b.aclose()
    assert not injected.is_closed
    await injected.aclose()


@pytest.mark.parametrize(
    ("base_url", "path"),
    [
        ("https://api.example.com/v1", "/chat/completions"),
        ("https://api.example.com/v1/", "chat/completions"),
        ("http://127.0.0.1:8080", "/v1/models"),
        ("https://host/a%20b/v1", "/x?y=1"),
    ],
)
async def test_url_for_joins_a_path_exactly_as_httpx_does(base_url, path):
    backend = FakeBackend("a", settings(base_url=base_url))
    expected = backend.client.build_request("GET", path).url
    assert backend.url_for(path) == expected
    assert backend.url_for(path) is backend.url_for(path)  # parsed once
    await backend.aclose()


async def test_url_for_keeps_an_absolute_url_and_follows_a_new_client():
    import httpx

    backend = FakeBackend("a", settings(base_url="https://one.example/v1"))
    assert backend.url_for("https://other.example/v2/x") == httpx.URL("https://other.example/v2/x")
    first = backend.url_for("/m")
    await backend.aclose()  # the client goes; the next one may have another base URL
    backend._client = httpx.AsyncClient(base_url="https://two.example/api")
    assert backend.url_for("/m") == httpx.URL("https://two.example/api/m") != first
    await backend.client.aclose()


def test_url_for_remembers_a_bounded_number_of_urls():
    backend = FakeBackend("a", settings(base_url="https://api.example.com"))
    for i in range(200):
        backend.url_for(f"/p{i}")
    assert len(backend._urls) <= 32


def test_every_base_backend_is_a_backend_and_batching_is_an_opt_in_capability():
    class Batching(FakeBackend):
        async def send_batch(self, requests):  # type: ignore[no-untyped-def]
            return [await self.send(r) for r in requests]

    plain, batching = FakeBackend("a"), Batching("b")
    assert isinstance(plain, Backend) and isinstance(batching, Backend)
    assert not isinstance(plain, BatchCapable)
    assert isinstance(batching, BatchCapable)


def test_an_object_missing_what_the_router_calls_is_not_a_backend():
    class SendOnly:
        name = "x"
        settings = BackendSettings()

        async def send(self, request):  # type: ignore[no-untyped-def]
            raise NotImplementedError

    assert not isinstance(SendOnly(), Backend)


@pytest.mark.parametrize(
    ("tokens_in", "tokens_out", "flagged"),
    [(10**400, 5, ["tokens_input"]), (3, -1, ["tokens_output"]), (10**10, 10**10, ["tokens_input", "tokens_output"])],
)
def test_implausible_usage_is_estimated_and_flagged_and_the_answer_kept(tokens_in, tokens_out, flagged):
    backend = FakeBackend("u", BackendSettings(cost_per_token=1e-6, model="m"))
    response = backend.create_success_response(
        "hello world", tokens_in, tokens_out, 1.0, request=ClaudetteRequest(prompt="a prompt of some length")
    )
    assert response.content == "hello world"
    assert response.metadata["usage_implausible"] == flagged
    assert response.metadata["usage_estimated"] is True
    assert 0 <= response.tokens_input <= 100 and 0 <= response.tokens_output <= 100
    assert 0 <= response.cost_eur < 1e-3


def test_plausible_usage_is_kept_as_reported():
    backend = FakeBackend("u", BackendSettings(cost_per_token=1e-6, model="m"))
    response = backend.create_success_response("x", 1_000, 2_000, 1.0)
    assert (response.tokens_input, response.tokens_output) == (1_000, 2_000)
    assert "usage_implausible" not in response.metadata and "usage_estimated" not in response.metadata
