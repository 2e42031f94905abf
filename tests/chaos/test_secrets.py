"""API keys never leak: not into logs, exception messages, reprs, stats or CLI output.

Recognisable keys are configured for the three backends that take one; the run goes
through answers, every fault kind, a 401, and an error body that quotes the key back.
Everything a user could see is collected and searched for the keys.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _providers import CLAUDE_KEY, FAULT_KINDS, NAMES, OPENAI_KEY, QWEN_KEY
from claudette import ClaudetteRequest
from claudette.errors import ClaudetteError
from claudette.testing import LoopbackServer, Reply
from claudette.testing.pytest_plugin import build_router
from claudette.types import BackendSettings
from claudette_backend_openai import OpenAIBackend
from claudette_backend_openai.testing import OpenAIEmulator

KEYS = (OPENAI_KEY, CLAUDE_KEY, QWEN_KEY)
ROOT = Path(__file__).resolve().parents[2]


def _leaks(texts: list[str]) -> list[str]:
    return [t[:200] for t in texts if any(key in t for key in KEYS)]


def _describe(exc: BaseException) -> list[str]:
    texts = [str(exc), repr(exc), *getattr(exc, "reasons", {}).values()]
    if exc.__cause__ is not None:
        texts += _describe(exc.__cause__)
    return texts


async def test_no_key_appears_in_logs_errors_reprs_or_stats(providers, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="claudette")
    seen: list[str] = []
    backends = [providers[n].backend() for n in NAMES]
    router = build_router(*backends)
    echo = LoopbackServer(lambda r: Reply.json(
        {"error": {"message": f"Incorrect API key provided: {OPENAI_KEY}", "type": "invalid_request_error",
                   "code": "invalid_api_key"}}, 401))
    try:
        for kind in (None, *FAULT_KINDS):
            for name in NAMES:
                provider = providers[name]
                provider.script([kind])
                for stream in (False, True):
                    request = ClaudetteRequest(prompt=f"req-1 {kind}", backend=name)
                    try:
                        async with asyncio.timeout(8):
                            if stream:
                                async for chunk in router.stream(request):
                                    seen.append(repr(chunk))
                            else:
                                seen.append(repr(await router.route_request(request)))
                    except (ClaudetteError, TimeoutError) as exc:
                        seen += _describe(exc)
                    provider.script([kind])
                provider.clear()
        # A provider that quotes the key back in its 401 message.
        with echo:
            quoting = OpenAIBackend("quoting", BackendSettings(base_url=f"{echo.url}/v1", api_key=OPENAI_KEY))
            try:
                await quoting.send(ClaudetteRequest(prompt="hi"))
            except ClaudetteError as exc:
                seen += _describe(exc)
            finally:
                await quoting.aclose()
        seen += [repr(b) for b in backends] + [repr(b.settings) for b in backends]
        seen.append(json.dumps(router.stats(), default=str))
        seen += [repr(c) for c in router.explain(ClaudetteRequest(prompt="hi"))]
    finally:
        await router.aclose()
    seen += [r.getMessage() for r in caplog.records]
    seen += [logging.Formatter().format(r) for r in caplog.records]
    assert len(caplog.records) > 10 and len(seen) > 100
    assert not _leaks(seen), _leaks(seen)[:3]
    assert any("***" in text for text in seen), "the quoted key was not masked"


def _cli(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["CHAOS_QWEN_KEY"] = QWEN_KEY
    return subprocess.run(
        [sys.executable, "-m", "claudette", *args, "--config", str(config)],
        capture_output=True, text=True, timeout=60, env=env, cwd=ROOT,
    )


def _config(tmp_path: Path, openai_url: str, vllm_url: str) -> Path:
    path = tmp_path / "claudette.toml"
    path.write_text(
        "[router]\nmax_attempts = 2\n\n"
        f'[backends.remote]\nplugin = "openai"\nbase_url = "{openai_url}/v1"\napi_key = "{OPENAI_KEY}"\n\n'
        f'[backends.vllm]\nplugin = "qwen"\nbase_url = "{vllm_url}/v1"\napi_key = "${{CHAOS_QWEN_KEY}}"\n'
    )
    return path


@pytest.mark.parametrize("accepted", [True, False], ids=["answered", "401"])
def test_the_cli_never_prints_a_key(tmp_path, accepted):
    # Each emulator accepts one key; with another one every call is a 401.
    other = "sk-some-other-key-1234"
    with OpenAIEmulator(api_key=OPENAI_KEY if accepted else other) as emu, OpenAIEmulator(
        flavour="vllm", api_key=QWEN_KEY if accepted else other
    ) as vllm:
        config = _config(tmp_path, emu.url, vllm.url)
        runs = [
            _cli("ask", "req-1 hello", "--json", config=config),
            _cli("ask", "req-2 hello", "--explain", config=config),
            _cli("ask", "req-3 hello", "--explain", "--json", "--stream", config=config),
            _cli("ask", "req-4 hello", "--backend", "remote", "--verbose", config=config),
            _cli("backends", "--json", config=config),
        ]
        calls = len(emu.server.requests) + len(vllm.server.requests)
    assert calls >= 4, "the CLI never reached the emulator"
    for run in runs:
        assert OPENAI_KEY not in run.stdout + run.stderr, run.args
        assert QWEN_KEY not in run.stdout + run.stderr, run.args
        assert "Traceback" not in run.stderr, run.stderr[-2000:]
    asks = runs[:4]
    if accepted:
        assert all(r.returncode == 0 for r in asks), [(r.returncode, r.stderr[-300:]) for r in asks]
    else:
        assert all(r.returncode == 4 for r in asks), [(r.returncode, r.stderr[-300:]) for r in asks]
        assert all("401" in r.stderr or "Unauthorized" in r.stderr for r in asks)
