"""The health check: a free GET /v1/models, True or False, never an exception."""

from __future__ import annotations

import socket

from claude_support import API_KEY
from claudette import BackendSettings
from claudette.testing import Fault

from claudette_backend_claude import ClaudeBackend
from claudette_backend_claude.testing import AnthropicEmulator, AnthropicFault


async def test_healthy_api_is_true(backend: ClaudeBackend, emulator: AnthropicEmulator) -> None:
    assert await backend.health_check() is True


async def test_health_check_lists_models_and_bills_nothing(
    backend: ClaudeBackend, emulator: AnthropicEmulator
) -> None:
    await backend.health_check()
    call = emulator.calls[-1]
    assert (call.method, call.path) == ("GET", f"/v1/models/{backend.settings.model}")
    assert call.headers["x-api-key"] == API_KEY
    assert call.headers["anthropic-version"] == "2023-06-01"
    assert emulator.message_requests == 0


async def test_overloaded_api_is_false(backend: ClaudeBackend, emulator: AnthropicEmulator) -> None:
    emulator.healthy = False
    assert await backend.health_check() is False


async def test_wrong_key_is_false(emulator: AnthropicEmulator) -> None:
    backend = ClaudeBackend("claude", emulator.settings(api_key="sk-ant-wrong-key-000"))
    try:
        assert await backend.health_check() is False
    finally:
        await backend.aclose()


async def test_refused_connection_is_false() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = ClaudeBackend("claude", BackendSettings(base_url=f"http://127.0.0.1:{port}", api_key=API_KEY))
    try:
        assert await backend.health_check() is False
    finally:
        await backend.aclose()


async def test_silent_server_is_false_not_an_exception(emulator: AnthropicEmulator) -> None:
    emulator.server.script(Fault.hang(10))  # the next request of any path hangs
    backend = ClaudeBackend("claude", emulator.settings(timeout=0.3))
    try:
        assert await backend.health_check() is False
    finally:
        await backend.aclose()


async def test_message_faults_are_not_consumed_by_health_checks(
    backend: ClaudeBackend, emulator: AnthropicEmulator
) -> None:
    emulator.fail_next(AnthropicFault.overloaded())
    assert await backend.health_check() is True
    assert emulator.calls[-1].fault is None


async def test_an_unknown_model_marks_the_backend_misconfigured(emulator: AnthropicEmulator) -> None:
    backend = ClaudeBackend(
        "claude", BackendSettings(base_url=emulator.url, api_key=API_KEY, model="claude-nonexistent-9")
    )
    try:
        assert await backend.refresh_health() is False
        assert backend.get_info().misconfigured == "model 'claude-nonexistent-9' is not known to the API (HTTP 404)"
    finally:
        await backend.aclose()


async def test_a_refused_key_marks_the_backend_misconfigured(emulator: AnthropicEmulator) -> None:
    backend = ClaudeBackend("claude", BackendSettings(base_url=emulator.url, api_key="sk-ant-wrong", model="claude-sonnet-4-5"))
    try:
        assert await backend.refresh_health() is False
        assert backend.get_info().misconfigured == "the API refused the key (HTTP 401 reading the model)"
    finally:
        await backend.aclose()
