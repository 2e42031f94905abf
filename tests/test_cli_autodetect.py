"""Auto-detection of backends when there is no config (``claudette.autodetect`` and the CLI)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from claudette import BackendSettings, BaseBackend, ClaudetteRequest, ClaudetteResponse, hookimpl
from claudette.autodetect import (
    DASHSCOPE_BASE_URL,
    DetectedBackend,
    Detection,
    detect_backends,
    ollama_base_url,
    router_from_detection,
)
from claudette.plugins import ClaudettePlugins
from claudette.testing import LoopbackServer, Reply
from test_cli_helpers import SECRET, cli_env, closed_port, run_cli


class StubBackend(BaseBackend):
    """A backend that is never called: detection only creates it."""

    async def send(self, request: ClaudetteRequest) -> ClaudetteResponse:
        raise NotImplementedError


class KeyedStub(StubBackend):
    """A stub that needs an API key."""

    requires_api_key = True


class StubPlugins:
    """Registers stubs under the given plugin names."""

    def __init__(self, *names: str, keyed: tuple[str, ...] = ()) -> None:
        self.names = names
        self.keyed = keyed

    @hookimpl
    def claudette_register_backends(self, registry: Any) -> None:
        for name in self.names:
            cls = KeyedStub if name in self.keyed else StubBackend
            registry.register(name, cls, defaults=BackendSettings(model=f"{name}-default"))


def plugins_with(*names: str, keyed: tuple[str, ...] = ()) -> ClaudettePlugins:
    """An isolated plugin manager whose registry holds exactly ``names``."""
    return ClaudettePlugins(autoload=False, plugins=[StubPlugins(*names, keyed=keyed)])


def closed_env(**extra: str) -> dict[str, str]:
    """An environment whose local probes hit closed ports."""
    return {
        "OLLAMA_HOST": f"127.0.0.1:{closed_port()}",
        "CLAUDETTE_AUTODETECT_OPENAI_COMPAT_URL": f"http://127.0.0.1:{closed_port()}/v1",
        **extra,
    }


def ollama_tags(*models: str) -> Any:
    """A handler answering ``GET /api/tags`` like Ollama."""

    def handler(request: Any) -> Reply:
        if request.path == "/api/tags":
            return Reply.json({"models": [{"name": m, "model": m} for m in models]})
        return Reply.text("404 page not found", 404)

    return handler


def openai_models(*models: str) -> Any:
    """A handler answering ``GET /v1/models`` like an OpenAI-compatible server."""

    def handler(request: Any) -> Reply:
        if request.path == "/v1/models":
            return Reply.json({"object": "list", "data": [{"id": m, "object": "model"} for m in models]})
        return Reply.json({"error": "not found"}, 404)

    return handler


# -- detect_backends ----------------------------------------------------------------------------


async def test_each_api_key_selects_its_installed_plugin() -> None:
    env = closed_env(OPENAI_API_KEY=SECRET + "o", ANTHROPIC_API_KEY=SECRET + "a", DASHSCOPE_API_KEY=SECRET + "d")
    detection = await detect_backends(plugins_with("openai", "claude", "qwen", "ollama").registry, env)
    by_name = {b.name: b for b in detection.backends}
    assert set(by_name) == {"openai", "claude", "qwen"}
    assert by_name["openai"].plugin == "openai"
    assert by_name["openai"].settings.api_key == SECRET + "o"
    assert by_name["claude"].settings.api_key_env == "ANTHROPIC_API_KEY"
    assert by_name["qwen"].settings.base_url == DASHSCOPE_BASE_URL
    assert all(b.settings.backend_type == "cloud" for b in detection.backends)
    assert by_name["openai"].reason == "OPENAI_API_KEY is set"
    assert SECRET not in repr(detection)


async def test_base_url_variables_move_a_cloud_backend() -> None:
    env = closed_env(OPENAI_API_KEY="sk-x-123456", OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    detection = await detect_backends(plugins_with("openai").registry, env)
    assert detection.backends[0].settings.base_url == "http://127.0.0.1:9/v1"


async def test_a_key_without_its_plugin_is_only_a_note() -> None:
    env = closed_env(ANTHROPIC_API_KEY="sk-ant-123456")
    detection = await detect_backends(plugins_with("ollama").registry, env)
    assert detection.backends == ()
    assert "ANTHROPIC_API_KEY is set but claudette-backend-claude is not installed" in detection.notes


async def test_an_empty_key_is_ignored() -> None:
    detection = await detect_backends(plugins_with("openai").registry, closed_env(OPENAI_API_KEY="  "))
    assert detection.backends == ()


async def test_a_reachable_ollama_is_used_with_its_first_model() -> None:
    with LoopbackServer(ollama_tags("llama3.2:1b", "qwen2.5:7b")) as server:
        env = closed_env(OLLAMA_HOST=f"127.0.0.1:{server.port}")
        detection = await detect_backends(plugins_with("ollama", "qwen").registry, env)
    (found,) = detection.backends
    assert (found.name, found.plugin) == ("ollama", "ollama")
    assert found.settings.base_url == server.url
    assert found.settings.model == "llama3.2:1b"
    assert found.settings.backend_type == "self_hosted"
    backend = plugins_with("ollama").registry.create("ollama", found.settings)
    assert backend.prices.is_free
    assert [r.path for r in server.requests] == ["/api/tags"]


async def test_an_ollama_without_models_is_not_used() -> None:
    with LoopbackServer(ollama_tags()) as server:
        env = closed_env(OLLAMA_HOST=server.url)
        detection = await detect_backends(plugins_with("ollama").registry, env)
    assert detection.backends == ()
    assert any("no model pulled" in note for note in detection.notes)


async def test_a_reachable_openai_compatible_server_becomes_a_self_hosted_qwen_backend() -> None:
    with LoopbackServer(openai_models("Qwen/Qwen2.5-7B-Instruct")) as server:
        env = closed_env(CLAUDETTE_AUTODETECT_OPENAI_COMPAT_URL=f"{server.url}/v1/")
        detection = await detect_backends(plugins_with("qwen").registry, env)
    (found,) = detection.backends
    assert (found.name, found.plugin) == ("local", "qwen")
    assert found.settings.base_url == f"{server.url}/v1"
    assert found.settings.model == "Qwen/Qwen2.5-7B-Instruct"
    assert found.settings.backend_type == "self_hosted"


async def test_a_server_answering_garbage_is_not_used() -> None:
    with LoopbackServer(lambda request: Reply.text("<html>hello</html>")) as server:
        env = closed_env(CLAUDETTE_AUTODETECT_OPENAI_COMPAT_URL=f"{server.url}/v1", OLLAMA_HOST=server.url)
        detection = await detect_backends(plugins_with("qwen", "ollama").registry, env)
    assert detection.backends == ()
    assert len(detection.notes) == 2


async def test_local_servers_are_not_probed_without_their_plugin() -> None:
    with LoopbackServer(ollama_tags("m")) as server:
        env = closed_env(OLLAMA_HOST=server.url, CLAUDETTE_AUTODETECT_OPENAI_COMPAT_URL=f"{server.url}/v1")
        detection = await detect_backends(plugins_with("openai").registry, env)
    assert server.requests == []
    assert detection.backends == ()
    assert "claudette-backend-ollama is not installed: Ollama not probed" in detection.notes


async def test_probes_of_silent_servers_give_up_quickly() -> None:
    from claudette.testing import Fault

    with LoopbackServer(lambda request: Fault.hang(5)) as server:
        env = closed_env(OLLAMA_HOST=server.url, CLAUDETTE_AUTODETECT_OPENAI_COMPAT_URL=f"{server.url}/v1")
        started = time.monotonic()
        detection = await detect_backends(plugins_with("qwen", "ollama").registry, env, timeout=0.3)
        elapsed = time.monotonic() - started
    assert detection.backends == ()
    assert elapsed < 1.5  # both probes run at once, each bounded by the timeout


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "http://127.0.0.1:11434"),
        ("127.0.0.1:9999", "http://127.0.0.1:9999"),
        ("myhost", "http://myhost:11434"),
        ("0.0.0.0", "http://127.0.0.1:11434"),
        ("http://ollama.lan", "http://ollama.lan:80"),
        ("https://ollama.example.com/", "https://ollama.example.com:443"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("ftp://nope", "http://127.0.0.1:11434"),
    ],
)
def test_ollama_host_forms(value: str, expected: str) -> None:
    assert ollama_base_url({"OLLAMA_HOST": value}) == expected


async def test_router_from_detection_skips_a_backend_its_plugin_refuses() -> None:
    plugins = plugins_with("openai", "ollama", keyed=("openai",))
    detection = Detection(
        (
            DetectedBackend("openai", "openai", BackendSettings(), "OPENAI_API_KEY is set"),
            DetectedBackend("ollama", "ollama", BackendSettings(base_url="http://127.0.0.1:1"), "found"),
        )
    )
    router, skipped = router_from_detection(detection, plugins)
    try:
        assert list(router.backends) == ["ollama"]
        assert len(skipped) == 1 and skipped[0].startswith("openai: not usable: ")
        assert "api_key" in skipped[0]
    finally:
        await router.aclose()


# -- through the command ---------------------------------------------------------------------


def test_ask_without_config_uses_the_ollama_named_by_ollama_host(tmp_path: Path) -> None:
    ollama = pytest.importorskip("claudette_backend_ollama.testing")
    with ollama.OllamaEmulator(models=["llama3.2:1b"], reply="found you") as emulator:
        env = cli_env(tmp_path, OLLAMA_HOST=emulator.host)
        result = run_cli("-v", "ask", "hi", "--json", env=env, cwd=tmp_path)
        assert emulator.chats[0].body["model"] == "llama3.2:1b"
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["content"] == "found you"
    assert data["backend_used"] == "ollama"
    assert "backends from auto-detection: ollama" in result.stderr


def test_ask_without_config_uses_a_cloud_key_from_the_environment(tmp_path: Path) -> None:
    claude = pytest.importorskip("claudette_backend_claude.testing")
    with claude.AnthropicEmulator(api_key=SECRET, reply="from claude") as emulator:
        env = cli_env(tmp_path, ANTHROPIC_API_KEY=SECRET, ANTHROPIC_BASE_URL=emulator.url)
        result = run_cli("ask", "hi", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "from claude\n"


def test_ask_without_config_uses_an_openai_compatible_server(tmp_path: Path) -> None:
    pytest.importorskip("claudette_backend_qwen")
    fixture = Path(__file__).parent / "fixtures" / "cli" / "openai-chat.json"
    body = json.loads(fixture.read_text())

    def handler(request: Any) -> Reply:
        if request.path == "/v1/models":
            return Reply.json({"object": "list", "data": [{"id": "qwen2.5-7b-instruct", "object": "model"}]})
        if request.path == "/v1/chat/completions":
            return Reply.json(body)
        return Reply.json({"error": "not found"}, 404)

    with LoopbackServer(handler) as server:
        env = cli_env(tmp_path, CLAUDETTE_AUTODETECT_OPENAI_COMPAT_URL=f"{server.url}/v1")
        result = run_cli("ask", "hi", "--json", env=env, cwd=tmp_path)
        chat = server.requests_to("/v1/chat/completions")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["backend_used"] == "local"
    assert data["content"] == body["choices"][0]["message"]["content"]
    assert chat[0].json()["model"] == "qwen2.5-7b-instruct"


def test_backends_without_config_lists_what_was_detected(tmp_path: Path) -> None:
    ollama = pytest.importorskip("claudette_backend_ollama.testing")
    with ollama.OllamaEmulator(models=["qwen2.5:7b"]) as emulator:
        env = cli_env(tmp_path, OLLAMA_HOST=emulator.host)
        result = run_cli("backends", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["source"] == "auto-detection"
    assert [b["name"] for b in data["backends"]] == ["ollama"]
    assert data["backends"][0]["healthy"] is True


def test_a_config_file_turns_auto_detection_off(tmp_path: Path) -> None:
    ollama = pytest.importorskip("claudette_backend_ollama.testing")
    with ollama.OllamaEmulator(models=["qwen2.5:7b"], reply="detected") as detected, ollama.OllamaEmulator(
        models=["qwen2.5:7b"], reply="configured"
    ) as configured:
        env = cli_env(tmp_path, OLLAMA_HOST=detected.host)
        (tmp_path / "claudette.toml").write_text(
            f'[backends.mine]\nplugin = "ollama"\nbase_url = "{configured.url}"\nmodel = "qwen2.5:7b"\n'
        )
        result = run_cli("ask", "hi", env=env, cwd=tmp_path)
        assert detected.server.requests == []
    assert result.stdout == "configured\n"
