"""The health check lists models (free) and never raises."""

from __future__ import annotations

import socket
from collections.abc import Callable

from claudette.testing import Fault, LoopbackServer

from claudette_backend_openai import OpenAIBackend
from claudette_backend_openai.testing import OpenAIEmulator


async def test_healthy_when_models_answer(emulator: OpenAIEmulator, backend: OpenAIBackend) -> None:
    assert await backend.health_check() is True


async def test_health_check_lists_models_and_never_chats(
    emulator: OpenAIEmulator, backend: OpenAIBackend
) -> None:
    await backend.health_check()
    assert [(r.method, r.path) for r in emulator.requests] == [("GET", "/v1/models")]
    assert emulator.chat_count == 0


async def test_health_check_sends_the_key(
    emulator: OpenAIEmulator, backend: OpenAIBackend, api_key: str
) -> None:
    await backend.health_check()
    assert emulator.requests[-1].headers["authorization"] == f"Bearer {api_key}"


async def test_unhealthy_when_models_fail(emulator: OpenAIEmulator, backend: OpenAIBackend) -> None:
    emulator.healthy = False
    assert await backend.health_check() is False


async def test_unhealthy_with_a_wrong_key(
    emulator: OpenAIEmulator, make_backend: Callable[..., OpenAIBackend]
) -> None:
    backend = make_backend(emulator.base_url, api_key="sk-not-the-right-one")
    assert await backend.health_check() is False


async def test_unhealthy_when_refused(make_backend: Callable[..., OpenAIBackend]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert await make_backend(f"http://127.0.0.1:{port}/v1").health_check() is False


async def test_unhealthy_when_reset(
    claudette_loopback_server: LoopbackServer, make_backend: Callable[..., OpenAIBackend]
) -> None:
    claudette_loopback_server.script(Fault.reset())
    assert await make_backend(f"{claudette_loopback_server.url}/v1").health_check() is False


async def test_unhealthy_when_it_hangs(
    claudette_loopback_server: LoopbackServer, make_backend: Callable[..., OpenAIBackend]
) -> None:
    claudette_loopback_server.script(Fault.hang(3))
    assert await make_backend(f"{claudette_loopback_server.url}/v1", timeout=0.2).health_check() is False


async def test_a_wrong_key_marks_the_backend_misconfigured(
    emulator: OpenAIEmulator, make_backend: Callable[..., OpenAIBackend]
) -> None:
    backend = make_backend(emulator.base_url, api_key="sk-not-the-right-one")
    assert await backend.refresh_health() is False
    assert backend.get_info().misconfigured == "the server refused the API key (HTTP 401 listing models)"


async def test_a_model_the_server_does_not_list_marks_the_backend_misconfigured(
    emulator: OpenAIEmulator, make_backend: Callable[..., OpenAIBackend]
) -> None:
    backend = make_backend(emulator.base_url, model="gpt-does-not-exist")
    assert await backend.refresh_health() is False
    info = backend.get_info().misconfigured
    assert info is not None and info.startswith("model 'gpt-does-not-exist' is not served here")


async def test_a_listed_model_is_healthy_and_not_misconfigured(
    emulator: OpenAIEmulator, make_backend: Callable[..., OpenAIBackend]
) -> None:
    backend = make_backend(emulator.base_url, model=emulator.models[0])
    assert await backend.refresh_health() is True
    assert backend.get_info().misconfigured is None


async def test_a_llama_cpp_list_proves_nothing_about_the_model(
    make_backend: Callable[..., OpenAIBackend],
) -> None:
    """llama.cpp answers with whatever model it loaded, whatever name a request gives."""
    with OpenAIEmulator(flavour="llamacpp") as emu:
        backend = make_backend(emu.base_url, api_key=None, model="any-name-at-all")
        assert await backend.refresh_health() is True
        assert backend.get_info().misconfigured is None
