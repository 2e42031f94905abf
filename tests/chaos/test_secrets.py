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
import traceback
from pathlib import Path

import pytest
from _providers import CLAUDE_KEY, FAULT_KINDS, NAMES, OPENAI_KEY, QWEN_KEY
from claudette import ClaudetteRequest
from claudette.errors import ClaudetteError
from claudette.testing import LoopbackServer, RecordedRequest, Reply
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


# -- one key planted everywhere a user could put it -----------------------------------------

#: The planted key (and a URL password): each test process registers them only where a
#: configuration puts them in a secret field, so a leak through any other path shows.
PLANTED = "sk-planted-9b1f4c2e7d5a3f60"
PASSWORD = "pw-planted-5e8d2c41a7"
USERINFO_URL = f"http://admin:{PASSWORD}@127.0.0.1:9/v1"


def _echoing(request: RecordedRequest) -> Reply:
    """A provider that quotes every credential it received back, in every field it has."""
    seen = " ".join(v for k, v in request.headers.items() if k.lower() in ("authorization", "x-api-key", "api-key"))
    body = {"error": {"message": f"Incorrect API key provided: {seen}", "type": f"invalid_key {seen}",
                      "code": "invalid_api_key"}, "request_id": seen}
    return Reply.json(body, 401, headers={"x-request-id": f"req-{seen}"[:200]})


def _secret_config(tmp_path: Path, echo_url: str, emu_url: str) -> Path:
    path = tmp_path / "secrets.toml"
    path.write_text(
        "[router]\nmax_attempts = 3\n\n"
        f'[backends.direct]\nplugin = "openai"\nbase_url = "{emu_url}/v1"\napi_key = "{PLANTED}"\n\n'
        f'[backends.fromenv]\nplugin = "qwen"\nbase_url = "{echo_url}/v1"\napi_key = "${{CHAOS_PLANTED}}"\n'
        f'extra = {{ health = "models" }}\n\n'
        f'[backends.azure]\nplugin = "openai"\nbase_url = "{echo_url}/v1"\n'
        f'headers = {{ api-key = "{PLANTED}", x-api-key = "{PLANTED}", Authorization = "Bearer {PLANTED}" }}\n'
    )
    return path


def _run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    from claudette.cli import main

    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_key_planted_everywhere_never_shows_in_any_output(tmp_path, capsys, caplog, monkeypatch):
    for name in [k for k in os.environ if k.endswith("_API_KEY")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CHAOS_PLANTED", PLANTED)
    caplog.set_level(logging.DEBUG)  # every logger: claudette's, the plugins', httpx, httpcore
    outputs: list[str] = []
    with OpenAIEmulator(api_key=PLANTED) as emu, LoopbackServer(_echoing) as echo:
        config = str(_secret_config(tmp_path, echo.url, emu.url))
        runs = [
            ("ask", "req-1 hello", "--config", config, "--backend", "direct"),
            ("ask", "req-2 hello", "--config", config, "--backend", "direct", "--json", "--explain"),
            ("ask", "req-3 hello", "--config", config, "--backend", "direct", "--stream", "--verbose"),
            ("ask", "req-4 hello", "--config", config, "--backend", "direct", "--stream", "--json"),
            ("ask", "req-5 hello", "--config", config, "--backend", "azure", "--verbose"),
            ("ask", "req-7 hello", "--config", config, "--explain", "--verbose"),
            ("ask", "req-6 hello", "--config", config, "--backend", "fromenv", "--json"),
            ("backends", "--config", config),
            ("backends", "--config", config, "--json", "--verbose"),
            ("plugins",),
            ("plugins", "--json"),
            ("config", "check", config),
        ]
        codes = []
        for args in runs:
            code, text = _run_cli(capsys, *args)
            codes.append(code)
            outputs.append(text)
        # The Python API: reprs, exceptions and their tracebacks.
        settings = BackendSettings(
            base_url=f"{echo.url}/v1", api_key=PLANTED,
            headers={"api-key": PLANTED, "x-api-key": PLANTED, "Authorization": f"Bearer {PLANTED}"},
        )
        backend = OpenAIBackend("api", settings)
        outputs += [repr(settings), repr(backend), repr(backend.settings)]

        async def call() -> None:
            try:
                await backend.send(ClaudetteRequest(prompt="hi"))
            except ClaudetteError as exc:
                outputs.extend([str(exc), repr(exc), *traceback.format_exception(exc)])
            finally:
                await backend.aclose()

        asyncio.run(call())
    every_field = logging.Formatter("%(levelname)s %(name)s %(message)s")
    outputs += [every_field.format(r) for r in caplog.records]
    assert codes[:4] == [0, 0, 0, 0] and codes[4] == codes[6] == 4, (codes, outputs[4][-500:])
    assert len(echo.requests) >= 3, "the echoing provider was never called"
    assert any("DEBUG" in o and "httpcore" in o for o in outputs), "no httpcore DEBUG line was captured"
    assert any("api-key" in o and "***" in o for o in outputs), "the headers were not shown masked"
    leaks = [o[:300] for o in outputs if PLANTED in o]
    assert not leaks, leaks[:3]


def test_a_password_in_base_url_is_refused_and_never_shown(tmp_path, capsys, monkeypatch):
    with pytest.raises(ValueError) as caught:
        BackendSettings(base_url=USERINFO_URL)
    assert PASSWORD not in str(caught.value) and "user name or password" in str(caught.value)
    path = tmp_path / "userinfo.toml"
    path.write_text(f'[backends.a]\nplugin = "openai"\nbase_url = "{USERINFO_URL}"\napi_key = "sk-x-123456"\n')
    texts = []
    for args in (("config", "check", str(path)), ("backends", "--config", str(path), "--json"),
                 ("ask", "hi", "--config", str(path), "--json")):
        code, text = _run_cli(capsys, *args)
        assert code == 3, (args, text)  # EXIT_CONFIG
        assert "backends.a.base_url" in text and "user name or password" in text
        texts.append(text)
    monkeypatch.setenv("OLLAMA_HOST", f"admin:{PASSWORD}@127.0.0.1:11434")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"https://admin:{PASSWORD}@127.0.0.1")
    from claudette_backend_claude import ClaudeBackend
    from claudette_backend_ollama import OllamaBackend

    for backend in (OllamaBackend("o"), ClaudeBackend("c", BackendSettings(api_key="sk-x-123456"))):
        problems = [str(p) for p in backend.config_problems()]
        assert any("base_url" in p and "user name or password" in p for p in problems), problems
        texts += [*problems, repr(backend), repr(backend.settings)]
    assert not [t for t in texts if PASSWORD in t]


def test_a_key_in_the_wrong_field_is_described_never_shown(tmp_path):
    # A fresh process: the key is in no secret field, so nothing registers it for masking;
    # only describing (never quoting) a bad value keeps it out of the output.
    path = tmp_path / "wrong.toml"
    path.write_text(
        f'[router]\npreset = "{PLANTED}"\nstrategy = "{PLANTED}"\nmax_attempts = "{PLANTED}"\n\n'
        f'[backends.a]\nplugin = "openai"\nbase_url = "{PLANTED}"\napi_key = ["{PLANTED}"]\n'
        f'timeout = "{PLANTED}"\nbackend_type = "{PLANTED}"\nweight = "{PLANTED}"\n\n'
        f'[state]\nurl = "{PLANTED}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    script = (
        "import sys\nfrom claudette.cli import main\n"
        "for args in (['config', 'check', sys.argv[1]], ['ask', 'hi', '--config', sys.argv[1]],"
        " ['ask', 'hi', '--json', '--config', sys.argv[1]], ['backends', '--json', '--config', sys.argv[1]]):\n"
        "    print('exit', main(args), flush=True)\n"
    )
    run = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True,
                         timeout=60, env=env, cwd=ROOT)
    output = run.stdout + run.stderr
    assert output.count("exit 3") == 4, output[-2000:]  # EXIT_CONFIG, every command
    for where in ("router.preset", "router.strategy", "backends.a.base_url", "backends.a.api_key",
                  "backends.a.timeout", "backends.a.backend_type", "backends.a.weight"):
        assert where in output, where
    assert "a str of 27 characters" in output and "state.url" in output
    assert PLANTED not in output, output[-2000:]
