"""Health check (``GET /api/tags``) and the server-facts helpers."""

from __future__ import annotations

import pytest
from claudette import BackendError, BackendUnavailableError, ResponseFormatError
from claudette.testing import LoopbackServer, Reply

from claudette_backend_ollama.backend import model_is_listed
from claudette_backend_ollama.testing import OllamaEmulator
from conftest import MakeBackend, closed_port_url


async def test_healthy_when_model_is_listed(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    assert await make_backend().health_check() is True
    assert [(r.method, r.path) for r in emulator.requests] == [("GET", "/api/tags")]


async def test_unhealthy_when_model_is_not_pulled(make_backend: MakeBackend) -> None:
    assert await make_backend(model="llama3.3:70b").health_check() is False


async def test_a_model_that_is_not_pulled_marks_the_backend_misconfigured(make_backend: MakeBackend) -> None:
    backend = make_backend(model="llama3.3:70b")
    assert await backend.refresh_health() is False
    reason = backend.get_info().misconfigured
    assert reason is not None and "ollama pull llama3.3:70b" in reason


async def test_untagged_model_matches_latest(
    emulator: OllamaEmulator, make_backend: MakeBackend
) -> None:
    emulator.models.append("llama3.2:latest")
    assert await make_backend(model="llama3.2").health_check() is True


async def test_unhealthy_when_refused(make_backend: MakeBackend) -> None:
    assert await make_backend(base_url=closed_port_url()).health_check() is False


async def test_unhealthy_on_server_error(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(Reply.json({"error": "boom"}, 500))
    assert await make_backend(base_url=claudette_loopback_server.url).health_check() is False


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"models": "none"}'])
async def test_unhealthy_on_malformed_tags(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend, body: bytes
) -> None:
    claudette_loopback_server.script(Reply(200, {"content-type": "application/json"}, body))
    assert await make_backend(base_url=claudette_loopback_server.url).health_check() is False


async def test_health_check_is_bounded_by_a_short_timeout(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(Reply.json({"models": []}, delay=1.0))
    assert await make_backend(base_url=claudette_loopback_server.url, timeout=0.2).health_check() is False


async def test_list_models_gives_names(emulator: OllamaEmulator, make_backend: MakeBackend) -> None:
    emulator.models.append("nomic-embed-text:latest")
    assert await make_backend().list_models() == ["qwen2.5:7b", "nomic-embed-text:latest"]


async def test_list_models_raises_translated_errors(make_backend: MakeBackend) -> None:
    with pytest.raises(BackendUnavailableError):
        await make_backend(base_url=closed_port_url()).list_models()


async def test_list_models_rejects_a_bad_shape(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(Reply.json({"tags": []}))
    with pytest.raises(ResponseFormatError):
        await make_backend(base_url=claudette_loopback_server.url).list_models()


async def test_version_is_read(emulator: OllamaEmulator, make_backend: MakeBackend) -> None:
    emulator.version = "0.6.2"
    assert await make_backend().version() == "0.6.2"


async def test_version_rejects_a_bad_shape(
    claudette_loopback_server: LoopbackServer, make_backend: MakeBackend
) -> None:
    claudette_loopback_server.script(Reply.json({"v": 1}))
    with pytest.raises(BackendError):
        await make_backend(base_url=claudette_loopback_server.url).version()


@pytest.mark.parametrize(
    ("model", "names", "listed"),
    [
        ("qwen2.5:7b", ["qwen2.5:7b"], True),
        ("llama3", ["llama3:latest"], True),
        ("llama3:latest", ["llama3"], True),
        ("llama3:8b", ["llama3:latest"], False),
        (None, [], True),
    ],
)
def test_model_matching(model: str | None, names: list[str], listed: bool) -> None:
    assert model_is_listed(model, names) is listed
