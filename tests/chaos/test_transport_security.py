"""Transport safety: TLS verified unless disabled per backend, http(s) only, no redirects."""

from __future__ import annotations

import httpx
import pytest
from _providers import CLAUDE_KEY, OPENAI_KEY, QWEN_KEY
from _tls import TLSServer
from claudette import ClaudetteRequest
from claudette.config import parse_config
from claudette.errors import BackendError, BackendUnavailableError, ConfigError
from claudette.testing import LoopbackServer, Reply
from claudette.types import BackendSettings
from claudette_backend_claude import ClaudeBackend
from claudette_backend_ollama import OllamaBackend
from claudette_backend_openai import OpenAIBackend
from claudette_backend_qwen import QwenBackend

CLASSES = {"openai": OpenAIBackend, "claude": ClaudeBackend, "qwen": QwenBackend, "ollama": OllamaBackend}
KEYS = {"openai": OPENAI_KEY, "claude": CLAUDE_KEY, "qwen": QWEN_KEY, "ollama": None}
CHAT_PATHS = {"openai": "/v1/chat/completions", "claude": "/v1/messages", "qwen": "/v1/chat/completions", "ollama": "/api/chat"}


def _make(name: str, base_url: str, **overrides):
    if name in ("openai", "qwen") and not base_url.endswith("/v1"):
        base_url += "/v1"
    return CLASSES[name](name, BackendSettings(base_url=base_url, api_key=KEYS[name], **overrides))


@pytest.mark.parametrize("name", CLASSES)
async def test_tls_is_verified_by_default(name):
    """A server whose certificate no authority signed is refused before any request."""
    with TLSServer() as server:
        backend = _make(name, server.url)
        try:
            with pytest.raises(BackendUnavailableError, match="CERTIFICATE_VERIFY_FAILED") as caught:
                await backend.send(ClaudetteRequest(prompt="hello"))
            assert backend.client.follow_redirects is False
        finally:
            await backend.aclose()
        assert server.paths == []
    assert caught.value.backend == name
    if KEYS[name]:
        assert KEYS[name] not in str(caught.value)


@pytest.mark.parametrize("name", CLASSES)
async def test_tls_verification_is_off_only_for_the_backend_that_says_so(name):
    with TLSServer() as server:
        off = _make(name, server.url, verify_tls=False)
        on = _make(name, server.url)
        try:
            assert (await off.client.get(f"{server.url}/unverified")).json() == {"tls": True}
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await on.client.get(f"{server.url}/verified")
        finally:
            await off.aclose()
            await on.aclose()
        assert server.paths == ["/unverified"]


def test_verify_tls_comes_from_the_config_per_backend():
    config = parse_config({
        "backends": {
            "mine": {"plugin": "qwen", "base_url": "https://gpu.lan:8000/v1", "verify_tls": False},
            "cloud": {"plugin": "openai"},
        }
    }, env={})
    by_name = {b.name: b.settings for b in config.backends}
    assert by_name["mine"].verify_tls is False
    assert by_name["cloud"].verify_tls is True


@pytest.mark.parametrize(
    "url", ["ftp://llm.example/v1", "file:///etc/passwd", "javascript:alert(1)", "127.0.0.1:8000/v1", "//host/v1", "", "HTTP"]
)
def test_a_base_url_must_be_http_or_https(url):
    with pytest.raises(ValueError, match="base_url"):
        BackendSettings(base_url=url)
    with pytest.raises(ConfigError) as caught:
        parse_config({"backends": {"x": {"plugin": "openai", "base_url": url}}}, "c.toml", env={})
    assert [p.path for p in caught.value.problems] == ["backends.x.base_url"]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("stream", [False, True], ids=["send", "stream"])
async def test_a_redirect_to_another_host_is_not_followed_and_the_key_stays_home(name, status, stream):
    with LoopbackServer(lambda r: Reply.json({"stolen": True})) as elsewhere:
        target = f"{elsewhere.url}{CHAT_PATHS[name]}"
        with LoopbackServer(lambda r: Reply(status, {"location": target})) as origin:
            backend = _make(name, origin.url)
            try:
                with pytest.raises(BackendError) as caught:
                    if stream:
                        async for _ in backend.stream(ClaudetteRequest(prompt="hello")):
                            pass
                    else:
                        await backend.send(ClaudetteRequest(prompt="hello"))
            finally:
                await backend.aclose()
            assert len(origin.requests) == 1
        assert elsewhere.requests == [], "the redirect was followed"
    assert caught.value.backend == name and caught.value.status_code == status
    if KEYS[name]:
        assert KEYS[name] not in str(caught.value)
