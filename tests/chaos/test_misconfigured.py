"""A misconfigured backend (its key, its permissions, its model) never fails a request another
backend can answer, on every plugin, at the default settings.

Each case makes one provider answer every chat request with a 401, a 403 or a 404
"model not found" in its own wire format, beside a healthy provider; the misconfigured
one is the cheapest, so the router tries it first. Every request, sent and streamed, is
answered; the misconfigured backend is called once, then kept out and named as
misconfigured (``BackendInfo.misconfigured``, ``explain``). A request that is itself
invalid still fails at once with the first backend's error, and trips nothing. The CLI
test checks ``claudette backends`` names a backend whose key the provider refuses, or
whose model it does not serve.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _providers import NAMES, Provider
from claudette import ClaudetteRequest, InvalidRequestError
from claudette.router import BackendRouter
from claudette.testing.pytest_plugin import build_router
from claudette.types import RouterOptions
from claudette_backend_claude.testing import AnthropicFault
from claudette_backend_ollama.testing import OllamaFault
from claudette_backend_openai.testing import ChatFault

KINDS = ("401", "403", "404-model")


def _fault(provider: str, kind: str) -> Any:
    """The provider's own reply for ``kind``."""
    if provider in ("openai", "qwen"):
        return {
            "401": ChatFault.unauthorized,
            "403": lambda: ChatFault.error(403, "You are not allowed to use this model.", error_type="permission_denied"),
            "404-model": lambda: ChatFault.not_found("gpt-nope"),
        }[kind]()
    if provider == "claude":
        return {
            "401": AnthropicFault.authentication,
            "403": AnthropicFault.permission,
            "404-model": AnthropicFault.not_found,
        }[kind]()
    return {
        "401": lambda: OllamaFault.status_error(401, "unauthorized"),
        "403": lambda: OllamaFault.status_error(403, "forbidden"),
        "404-model": OllamaFault.model_not_found,
    }[kind]()


def _pair(providers: dict[str, Provider], bad: str, fault: Any) -> BackendRouter:
    """``bad`` (cheapest, tried first, answering every chat request with ``fault``) and the
    next provider, at the default options."""
    good = NAMES[(NAMES.index(bad) + 1) % len(NAMES)]
    for p in providers.values():
        p.clear()
    providers[bad].emulator.fail_always(fault)
    backends = [
        providers[bad].backend(input_cost_per_token=0.0, output_cost_per_token=0.0),
        providers[good].backend(),
    ]
    return build_router(*backends, options=RouterOptions())


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bad", NAMES)
async def test_a_misconfigured_backend_is_skipped_and_every_request_answered(providers, bad, kind):
    router = _pair(providers, bad, _fault(bad, kind))
    try:
        answered = []
        for i in range(6):
            request = ClaudetteRequest(prompt=f"req-{i} hello")
            if i % 2:
                chunks = [c async for c in router.stream(request)]
                answered.append(chunks[-1].response)
            else:
                answered.append(await router.route_request(request))
        [info] = [i for i in router.backend_infos() if i.name == bad]
        [skipped] = [c.skipped for c in router.explain(ClaudetteRequest(prompt="x")) if c.name == bad]
    finally:
        await router.aclose()
        providers[bad].emulator.fail_always(None)
    assert all(r is not None and r.backend_used != bad for r in answered), [(r.backend_used, r.metadata) for r in answered]
    assert answered[0].metadata["failed_backends"] == [bad]
    assert len(providers[bad].chat_requests()) == 1, "kept out after its first misconfigured answer"
    assert info.misconfigured is not None and kind[:3] in info.misconfigured
    assert skipped is not None and skipped.startswith("misconfigured")
    assert router.breaker_status()[bad] == "closed" and router.stats()["backends"][bad]["failures"] == 0


@pytest.mark.parametrize("bad", NAMES)
async def test_an_invalid_request_fails_at_once_with_the_first_backends_error(providers, bad):
    faults = {
        "openai": ChatFault.error(400, "This model's maximum context length is 128000 tokens.", code="context_length_exceeded"),
        "qwen": ChatFault.error(400, "This model's maximum context length is 32768 tokens.", error_type="BadRequestError"),
        "claude": AnthropicFault.invalid_request("prompt is too long: 250000 tokens > 200000 maximum"),
        "ollama": OllamaFault.status_error(400, "invalid schema for format"),
    }
    router = _pair(providers, bad, faults[bad])
    try:
        with pytest.raises(InvalidRequestError) as info:
            await router.route_request(ClaudetteRequest(prompt="req-0 hello"))
    finally:
        await router.aclose()
        providers[bad].emulator.fail_always(None)
    good = NAMES[(NAMES.index(bad) + 1) % len(NAMES)]
    assert info.value.backend == bad
    assert providers[good].chat_requests() == []
    assert set(router.breaker_status().values()) == {"closed"}
    assert all(i.misconfigured is None for i in router.backend_infos())


def _cli_backends(tmp_path: Path, config: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "claudette.toml"
    path.write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and "PROXY" not in k.upper()}
    return subprocess.run(
        [sys.executable, "-m", "claudette", "backends", "--config", str(path)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )


def test_claudette_backends_names_a_misconfigured_backend(providers, tmp_path):
    """A refused key and a model the server does not serve, each on a real provider API."""
    openai, claude, qwen, ollama = (providers[n] for n in NAMES)
    config = f"""
[backends.wrong-key]
plugin = "openai"
base_url = "{openai.emulator.base_url}"
api_key = "sk-not-the-right-one"
model = "gpt-4o-mini"

[backends.no-such-claude]
plugin = "claude"
base_url = "{claude.emulator.url}"
api_key = "{claude.settings().api_key}"
model = "claude-nonexistent-9"

[backends.no-such-vllm-model]
plugin = "qwen"
base_url = "{qwen.emulator.base_url}"
api_key = "{qwen.settings().api_key}"
model = "Qwen/NotServed-1B"

[backends.not-pulled]
plugin = "ollama"
base_url = "{ollama.emulator.url}"
model = "llama9:404b"

[backends.fine]
plugin = "ollama"
base_url = "{ollama.emulator.url}"
model = "qwen2.5:7b"
"""
    result = _cli_backends(tmp_path, config)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:] if line.strip()}
    for name in ("wrong-key", "no-such-claude", "no-such-vllm-model", "not-pulled"):
        assert " MISCONFIGURED " in rows[name], result.stdout
        assert f"claudette: {name}: misconfigured: " in result.stderr
    assert " ok " in rows["fine"]
    assert "HTTP 401" in result.stderr and "'claude-nonexistent-9'" in result.stderr
    assert "'Qwen/NotServed-1B' is not served" in result.stderr and "ollama pull llama9:404b" in result.stderr
