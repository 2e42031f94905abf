"""``claudette ask``: one request routed for real, in a subprocess, to loopback emulators."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_cli_helpers import SECRET, cli_env, closed_port, run_cli, write_config

pytest.importorskip("claudette_backend_ollama")
from claudette_backend_ollama.testing import OllamaEmulator, OllamaFault


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environment for the command."""
    return cli_env(tmp_path)


@pytest.fixture
def first() -> Iterator[OllamaEmulator]:
    """One Ollama emulator."""
    with OllamaEmulator(models=["qwen2.5:7b", "llama3.2:1b"], reply="Answer from first") as emulator:
        yield emulator


@pytest.fixture
def second() -> Iterator[OllamaEmulator]:
    """Another Ollama emulator."""
    with OllamaEmulator(models=["qwen2.5:7b"], reply="Answer from second") as emulator:
        yield emulator


def backend(name: str, url: str, **extra: str) -> str:
    """A ``[backends.NAME]`` table for an Ollama backend."""
    lines = [f"[backends.{name}]", 'plugin = "ollama"', f'base_url = "{url}"', 'model = "qwen2.5:7b"']
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def two_backends(tmp_path: Path, first: OllamaEmulator, second: OllamaEmulator) -> Path:
    """``./claudette.toml`` with ``cheap`` (first emulator) and ``dear`` (second emulator)."""
    return write_config(
        tmp_path / "claudette.toml",
        backend("cheap", first.url, cost_per_token="1e-7") + backend("dear", second.url, cost_per_token="1e-4"),
    )


def test_ask_prints_only_the_answer_on_stdout(tmp_path: Path, env: dict[str, str], two_backends: Path, first: OllamaEmulator) -> None:
    result = run_cli("ask", "What is the capital of France?", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Answer from first\n"
    assert result.stderr == ""  # no spinner when stderr is not a terminal
    assert first.chats[0].body["messages"] == [{"role": "user", "content": "What is the capital of France?"}]


def test_ask_json_prints_the_whole_response(tmp_path: Path, env: dict[str, str], two_backends: Path) -> None:
    result = run_cli("ask", "hi", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["content"] == "Answer from first"
    assert data["backend_used"] == "cheap"
    assert data["model"] == "qwen2.5:7b"
    assert data["tokens_output"] == 3
    assert data["cost_eur"] == pytest.approx((data["tokens_input"] + 3) * 1e-7)
    assert data["cache_hit"] is False
    assert isinstance(data["metadata"], dict)
    assert "explain" not in data


def test_ask_passes_model_max_tokens_temperature_and_system(tmp_path: Path, env: dict[str, str], two_backends: Path, first: OllamaEmulator) -> None:
    result = run_cli(
        "ask", "hi", "--model", "llama3.2:1b", "--max-tokens", "2", "--temperature", "0.3", "--system", "Be brief.",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    body = first.chats[0].body
    assert body["model"] == "llama3.2:1b"
    assert body["options"]["num_predict"] == 2
    assert body["options"]["temperature"] == 0.3
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert result.stdout == "Answer from\n"  # cut at 2 tokens


def test_ask_reads_the_prompt_from_stdin(tmp_path: Path, env: dict[str, str], two_backends: Path, first: OllamaEmulator) -> None:
    result = run_cli("ask", "-", env=env, cwd=tmp_path, input="a prompt\nfrom a pipe\n")
    assert result.returncode == 0, result.stderr
    assert first.chats[0].body["messages"][-1]["content"] == "a prompt\nfrom a pipe\n"


def test_ask_with_an_empty_prompt_is_bad_usage(tmp_path: Path, env: dict[str, str], two_backends: Path) -> None:
    result = run_cli("ask", "   ", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "empty" in result.stderr


def test_ask_backend_forces_that_backend(tmp_path: Path, env: dict[str, str], two_backends: Path, first: OllamaEmulator) -> None:
    result = run_cli("ask", "hi", "--backend", "dear", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Answer from second\n"
    assert first.chat_count == 0


def test_ask_with_an_unknown_backend_is_bad_usage(tmp_path: Path, env: dict[str, str], two_backends: Path) -> None:
    result = run_cli("ask", "hi", "--backend", "nosuch", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "no backend named 'nosuch'" in result.stderr
    assert "cheap, dear" in result.stderr


def test_ask_falls_back_when_the_chosen_backend_fails(tmp_path: Path, env: dict[str, str], two_backends: Path, first: OllamaEmulator) -> None:
    first.fail_always(OllamaFault.status_error(500))
    result = run_cli("ask", "hi", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["backend_used"] == "dear"
    assert data["metadata"]["failed_backends"] == ["cheap"]
    assert first.chat_count == 1


def test_ask_exits_4_when_every_backend_fails_naming_each(tmp_path: Path, env: dict[str, str], two_backends: Path, first: OllamaEmulator, second: OllamaEmulator) -> None:
    first.fail_always(OllamaFault.status_error(500))
    second.fail_always(OllamaFault.status_error(503))
    result = run_cli("ask", "hi", env=env, cwd=tmp_path)
    assert result.returncode == 4
    assert result.stdout == ""
    assert "no backend could answer" in result.stderr
    assert "claudette:   cheap: " in result.stderr and "HTTP 500" in result.stderr
    assert "claudette:   dear: " in result.stderr and "HTTP 503" in result.stderr


def test_ask_exits_4_when_a_request_fails_for_good(tmp_path: Path, env: dict[str, str], two_backends: Path, first: OllamaEmulator) -> None:
    first.fail_always(OllamaFault.status_error(400, "invalid schema for format"))
    result = run_cli("ask", "hi", env=env, cwd=tmp_path)
    assert result.returncode == 4
    assert "the backend failed" in result.stderr
    assert "invalid schema" in result.stderr


def test_ask_answers_from_another_backend_when_the_model_is_missing(
    tmp_path: Path, env: dict[str, str], two_backends: Path, first: OllamaEmulator
) -> None:
    first.fail_always(OllamaFault.model_not_found("qwen2.5:7b"))
    result = run_cli("ask", "hi", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Answer from second\n"


def test_ask_exits_4_when_nothing_is_configured_or_detected(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_cli("ask", "hi", env=env, cwd=tmp_path)
    assert result.returncode == 4
    assert "no backend is configured or detected" in result.stderr
    assert "no Ollama server answered" in result.stderr


def test_ask_exits_3_on_an_invalid_config_listing_every_problem(tmp_path: Path, env: dict[str, str]) -> None:
    path = write_config(tmp_path / "claudette.toml", '[backends.a]\nplugin = "ollama"\npriority = "high"\nenabled = "yes"\n')
    result = run_cli("ask", "hi", env=env, cwd=tmp_path)
    assert result.returncode == 3
    assert f"{path}: backends.a.priority: " in result.stderr
    assert f"{path}: backends.a.enabled: " in result.stderr
    assert result.stdout == ""


def test_ask_exits_3_when_the_named_config_does_not_exist(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_cli("ask", "hi", "--config", str(tmp_path / "missing.toml"), env=env, cwd=tmp_path)
    assert result.returncode == 3
    assert "missing.toml: no such file" in result.stderr


def test_ask_exits_5_when_the_configured_plugin_failed_to_load(tmp_path: Path, env: dict[str, str]) -> None:
    from test_cli_helpers import fake_plugin

    site = tmp_path / "site"
    fake_plugin(site, "broken", "raise RuntimeError('cannot start')\n")
    env["PYTHONPATH"] = str(site)
    write_config(tmp_path / "claudette.toml", '[backends.b]\nplugin = "broken"\nmodel = "m"\n')
    result = run_cli("ask", "hi", env=env, cwd=tmp_path)
    assert result.returncode == 5
    assert "cannot start" in result.stderr


def test_config_option_beats_the_environment_and_the_working_directory(tmp_path: Path, env: dict[str, str], first: OllamaEmulator, second: OllamaEmulator) -> None:
    write_config(tmp_path / "claudette.toml", backend("cwd", first.url))
    named = write_config(tmp_path / "named.toml", backend("named", second.url))
    env_file = write_config(tmp_path / "env.toml", backend("env", second.url))
    assert run_cli("ask", "hi", env=env, cwd=tmp_path).stdout == "Answer from first\n"
    with_env = {**env, "CLAUDETTE_CONFIG": str(env_file)}
    data = json.loads(run_cli("ask", "hi", "--json", env=with_env, cwd=tmp_path).stdout)
    assert data["backend_used"] == "env"
    data = json.loads(run_cli("ask", "hi", "--json", "--config", str(named), env=with_env, cwd=tmp_path).stdout)
    assert data["backend_used"] == "named"


# -- --stream -------------------------------------------------------------------------------


def test_stream_prints_tokens_as_they_arrive(tmp_path: Path, env: dict[str, str]) -> None:
    with OllamaEmulator(reply="one two three four five six", chunk_delay=0.4) as slow:
        write_config(tmp_path / "claudette.toml", backend("slow", slow.url))
        process = subprocess.Popen(
            [sys.executable, "-m", "claudette", "ask", "count", "--stream"],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            first_piece = os.read(process.stdout.fileno(), 100)
            still_running = process.poll() is None
            rest, _ = process.communicate(timeout=30)
        finally:
            process.kill()
    assert first_piece.startswith(b"one")
    assert still_running, "the first token was printed only when the command ended"
    assert (first_piece + rest).decode() == "one two three four five six\n"
    assert process.returncode == 0


def test_stream_json_prints_one_object_per_chunk_then_the_response(tmp_path: Path, env: dict[str, str], two_backends: Path) -> None:
    result = run_cli("ask", "hi", "--stream", "--json", "--explain", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    chunks, final = lines[:-1], lines[-1]
    assert "".join(c["chunk"] for c in chunks) == "Answer from first"
    assert all(c["backend"] == "cheap" for c in chunks)
    assert final["response"]["content"] == "Answer from first"
    assert final["response"]["tokens_output"] == 3
    assert [c["name"] for c in final["explain"]["candidates"]] == ["cheap", "dear"]


def test_stream_falls_back_before_the_first_token(tmp_path: Path, env: dict[str, str], two_backends: Path, first: OllamaEmulator) -> None:
    first.fail_always(OllamaFault.status_error(502))
    result = run_cli("ask", "hi", "--stream", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Answer from second\n"


def test_stream_cut_after_text_keeps_the_text_and_exits_4(tmp_path: Path, env: dict[str, str], two_backends: Path, first: OllamaEmulator) -> None:
    first.script(OllamaFault.stream_cut(after_lines=1))
    result = run_cli("ask", "hi", "--stream", env=env, cwd=tmp_path)
    assert result.returncode == 4
    assert result.stdout.startswith("Answer")
    assert result.stdout.endswith("\n")
    assert "cheap" in result.stderr


# -- --explain and --preset -------------------------------------------------------------------


def test_explain_goes_to_stderr_with_score_parts_and_skip_reasons(tmp_path: Path, env: dict[str, str], first: OllamaEmulator, second: OllamaEmulator) -> None:
    write_config(
        tmp_path / "claudette.toml",
        backend("cheap", first.url, cost_per_token="1e-7")
        + backend("dear", second.url, cost_per_token="1e-4")
        + backend("off", second.url, enabled="false"),
    )
    result = run_cli("ask", "hi", "--explain", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Answer from first\n"
    lines = result.stderr.splitlines()
    assert "weights cost 0.4, latency 0.4, availability 0.2" in lines[0]
    cheap = next(line for line in lines if " cheap " in line)
    dear = next(line for line in lines if " dear " in line)
    off = next(line for line in lines if " off " in line)
    assert "->" in cheap and "->" not in dear
    for part in ("score", "cost", "latency", "availability"):
        assert part in cheap and part in dear
    assert "skipped: disabled" in off
    assert "answered by cheap" in lines[-1]


def test_explain_with_json_is_inside_the_json_with_the_preset_weights(tmp_path: Path, env: dict[str, str], two_backends: Path) -> None:
    result = run_cli("ask", "hi", "--json", "--explain", "--preset", "performance", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    explain = data["explain"]
    assert explain["weights"] == {"cost": 0.1, "latency": 0.7, "availability": 0.2}
    cheap, dear = explain["candidates"]
    assert cheap["name"] == "cheap" and cheap["chosen"] is True and cheap["skipped"] is None
    assert dear["chosen"] is False
    assert dear["parts"]["cost"] > cheap["parts"]["cost"]
    assert cheap["score"] == pytest.approx(cheap["parts"]["total"])
    assert cheap["parts"]["total"] == pytest.approx(
        0.1 * cheap["parts"]["cost"] + 0.7 * cheap["parts"]["latency"] + 0.2 * cheap["parts"]["availability"]
    )


def test_explain_marks_the_other_backends_when_one_is_forced(tmp_path: Path, env: dict[str, str], two_backends: Path) -> None:
    result = run_cli("ask", "hi", "--json", "--explain", "--backend", "dear", env=env, cwd=tmp_path)
    data = json.loads(result.stdout)
    by_name = {c["name"]: c for c in data["explain"]["candidates"]}
    assert by_name["cheap"]["skipped"] == "another backend is forced"
    assert by_name["dear"]["chosen"] is True


def test_explain_after_a_fallback_shows_the_failure_and_the_backend_that_answered(tmp_path: Path, env: dict[str, str], two_backends: Path, first: OllamaEmulator) -> None:
    first.fail_always(OllamaFault.status_error(500))
    result = run_cli("ask", "hi", "--explain", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Answer from second\n"
    lines = result.stderr.splitlines()
    cheap = next(i for i, line in enumerate(lines) if " cheap " in line)
    dear = next(line for line in lines if " dear " in line)
    assert " x cheap " in lines[cheap] and "->" not in lines[cheap]
    assert "failed: " in lines[cheap + 1] and "HTTP 500" in lines[cheap + 1]
    assert "-> dear " in dear
    assert "answered by dear" in lines[-1] and "after falling back from cheap" in lines[-1]


def test_explain_json_after_a_fallback_never_marks_the_failed_backend_chosen(tmp_path: Path, env: dict[str, str], two_backends: Path, first: OllamaEmulator) -> None:
    first.fail_always(OllamaFault.status_error(500))
    for extra in ([], ["--stream"]):
        result = run_cli("ask", "hi", "--json", "--explain", *extra, env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        last = json.loads(result.stdout.splitlines()[-1] if extra else result.stdout)
        by_name = {c["name"]: c for c in last["explain"]["candidates"]}
        assert by_name["cheap"]["chosen"] is False and "HTTP 500" in by_name["cheap"]["failed"]
        assert by_name["dear"]["chosen"] is True and by_name["dear"]["failed"] is None


def test_verbose_logs_each_fallback_decision(tmp_path: Path, env: dict[str, str], two_backends: Path, first: OllamaEmulator) -> None:
    first.fail_always(OllamaFault.status_error(500))
    result = run_cli("-v", "ask", "hi", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    log = result.stderr
    assert "claudette: INFO: routing to cheap" in log
    assert "claudette: INFO: cheap failed, looking for another backend: " in log
    assert "claudette: INFO: falling back to dear" in log
    assert "claudette: INFO: dear answered after cheap failed: " in log and "HTTP 500" in log


# -- terminal behaviour and secrets -------------------------------------------------------------


def test_spinner_is_drawn_on_stderr_only_when_it_is_a_terminal(tmp_path: Path, env: dict[str, str]) -> None:
    import pty

    with OllamaEmulator(reply="late answer", delay=0.8) as slow:
        write_config(tmp_path / "claudette.toml", backend("slow", slow.url))
        leader, follower = pty.openpty()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "claudette", "ask", "hi"],
                env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=follower,
            )  # fmt: skip
            os.close(follower)
            stdout, _ = process.communicate(timeout=30)
            drawn = b""
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    piece = os.read(leader, 4096)
                except OSError:
                    break
                if not piece:
                    break
                drawn += piece
        finally:
            os.close(leader)
    assert process.returncode == 0
    assert stdout == b"late answer\n"
    assert b"waiting for the best backend" in drawn
    assert drawn.endswith(b"\r\x1b[K")


def test_no_output_ever_contains_the_api_key(tmp_path: Path) -> None:
    """A provider that echoes the key in its error must still not get it printed."""
    pytest.importorskip("claudette_backend_claude")
    from claudette.testing import LoopbackServer, Reply

    def echo_key(request: object) -> Reply:
        key = getattr(request, "headers", {}).get("x-api-key", "")
        body = {"type": "error", "error": {"type": "api_error", "message": f"internal error for key {key}"}}
        return Reply.json(body, status=500)

    env = cli_env(tmp_path, ANTHROPIC_API_KEY=SECRET)
    with LoopbackServer(echo_key) as server:
        write_config(
            tmp_path / "claudette.toml",
            f'[backends.c]\nplugin = "claude"\nbase_url = "{server.url}"\napi_key = "${{ANTHROPIC_API_KEY}}"\n',
        )
        outputs = []
        for args in (["ask", "hi"], ["-v", "ask", "hi", "--json", "--explain"], ["ask", "hi", "--stream", "-v"], ["backends", "--json", "-v"]):
            result = run_cli(*args, env=env, cwd=tmp_path)
            outputs.append((args, result.returncode, result.stdout + result.stderr))
        assert any(r.headers.get("x-api-key") == SECRET for r in server.requests)  # it was sent
    assert [code for _, code, _ in outputs] == [4, 4, 4, 4]
    for args, _, text in outputs:
        assert SECRET not in text, args
    assert "internal error for key ***" in outputs[0][2]


def test_autodetected_key_never_appears_in_output(tmp_path: Path) -> None:
    claude = pytest.importorskip("claudette_backend_claude.testing")
    with claude.AnthropicEmulator(api_key=SECRET, reply="detected") as emulator:
        env = cli_env(tmp_path, ANTHROPIC_API_KEY=SECRET, ANTHROPIC_BASE_URL=emulator.url)
        result = run_cli("-v", "ask", "hi", "--json", "--explain", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["content"] == "detected"
    assert SECRET not in result.stdout + result.stderr


def test_an_unreachable_backend_is_reported_without_a_traceback(tmp_path: Path, env: dict[str, str]) -> None:
    write_config(tmp_path / "claudette.toml", backend("gone", f"http://127.0.0.1:{closed_port()}"))
    result = run_cli("ask", "hi", env=env, cwd=tmp_path)
    assert result.returncode == 4
    assert "Traceback" not in result.stderr
    assert "gone" in result.stderr


def test_ctrl_c_while_waiting_exits_130(tmp_path: Path, env: dict[str, str]) -> None:
    import signal

    with OllamaEmulator(reply="too late", delay=20) as slow:
        write_config(tmp_path / "claudette.toml", backend("slow", slow.url))
        # As from a terminal: SIGINT at its default even when this suite runs where it is
        # ignored (a job started with `&` by a non-interactive shell inherits SIG_IGN, and
        # Python then leaves Ctrl-C ignored, which is right for such a job).
        process = subprocess.Popen(
            [sys.executable, "-m", "claudette", "ask", "hi"],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while slow.chat_count == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert slow.chat_count == 1, "the request never reached the emulator"
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=15)
        finally:
            process.kill()
    assert process.returncode == 130
    assert stdout == ""
    assert "interrupted" in stderr
    assert "Traceback" not in stderr
