"""Where the server is: ``base_url``, else ``$OLLAMA_HOST``, else localhost:11434."""

from __future__ import annotations

import pytest
from claudette import BackendSettings, ClaudetteRequest

from claudette_backend_ollama import OllamaBackend, base_url_from_host
from claudette_backend_ollama.testing import OllamaEmulator


def test_default_is_localhost_11434() -> None:
    assert OllamaBackend("o").base_url == "http://localhost:11434"


def test_ollama_host_is_used_when_base_url_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "http://gpu-box:11434")
    backend = OllamaBackend("o")
    assert backend.base_url == "http://gpu-box:11434"
    assert backend.settings.base_url == "http://gpu-box:11434"


def test_base_url_wins_over_ollama_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "gpu-box:1")
    assert (
        OllamaBackend("o", BackendSettings(base_url="http://other:2/")).base_url == "http://other:2"
    )


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("gpu-box:8080", "http://gpu-box:8080"),
        ("gpu-box", "http://gpu-box:11434"),
        ("127.0.0.1:11434", "http://127.0.0.1:11434"),
        ("0.0.0.0", "http://127.0.0.1:11434"),
        ("0.0.0.0:9000", "http://127.0.0.1:9000"),
        ("http://gpu-box", "http://gpu-box:80"),
        ("https://ollama.example.com", "https://ollama.example.com:443"),
        ("https://ollama.example.com/ollama/", "https://ollama.example.com:443/ollama"),
        ("[::1]:11434", "http://[::1]:11434"),
        ("  gpu-box:8080  ", "http://gpu-box:8080"),
    ],
)
def test_host_forms(host: str, url: str) -> None:
    assert base_url_from_host(host) == url


@pytest.mark.parametrize("host", ["ftp://gpu-box", "http://", "gpu-box:notaport"])
def test_unusable_host_is_refused(host: str) -> None:
    with pytest.raises(ValueError):
        base_url_from_host(host)


def test_unusable_ollama_host_is_a_config_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "ftp://gpu-box")
    problems = OllamaBackend("o").config_problems()
    assert [p.path for p in problems] == ["backends.o.base_url"]
    assert "OLLAMA_HOST" in problems[0].message


def test_blank_ollama_host_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "   ")
    assert OllamaBackend("o").base_url == "http://localhost:11434"


async def test_requests_go_to_ollama_host(
    monkeypatch: pytest.MonkeyPatch, emulator: OllamaEmulator
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", emulator.host)  # "127.0.0.1:PORT", no scheme
    backend = OllamaBackend("o")
    try:
        response = await backend.send(ClaudetteRequest(prompt="hi"))
    finally:
        await backend.aclose()
    assert response.content == "Hello there"
    assert emulator.chat_count == 1
