"""The ``claudette`` command, run for real in a subprocess against loopback emulators.

Commands: ``plugins``, ``backends``, ``config check``, ``ask``; exit codes 0/2/3/4/5;
results on stdout, diagnostics on stderr. ``ask`` is covered in ``test_cli_ask.py`` and
auto-detection in ``test_cli_autodetect.py``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_cli_helpers import SECRET, cli_env, closed_port, fake_plugin, run_cli, write_config

pytest.importorskip("claudette_backend_ollama")
from claudette_backend_ollama.testing import OllamaEmulator


@pytest.fixture
def ollama() -> Iterator[OllamaEmulator]:
    """An Ollama emulator with one pulled model."""
    with OllamaEmulator(models=["qwen2.5:7b"], reply="Paris is the capital") as emulator:
        yield emulator


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environment for the command."""
    return cli_env(tmp_path)


def ollama_backend(name: str, url: str, **extra: str) -> str:
    """A ``[backends.NAME]`` table for an Ollama backend."""
    lines = [f"[backends.{name}]", 'plugin = "ollama"', f'base_url = "{url}"', 'model = "qwen2.5:7b"']
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


# -- the command itself ------------------------------------------------------------------


def test_help_lists_every_command_exit_code_and_the_config_lookup(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_cli("--help", env=env, cwd=tmp_path)
    assert result.returncode == 0
    for command in ("plugins", "backends", "config", "ask"):
        assert command in result.stdout
    for code in ("0 ", "2 ", "3 ", "4 ", "5 "):
        assert f"\n  {code}" in result.stdout
    assert "$CLAUDETTE_CONFIG" in result.stdout


def test_ask_help_lists_its_options(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_cli("ask", "--help", env=env, cwd=tmp_path)
    assert result.returncode == 0
    for option in ("--backend", "--model", "--max-tokens", "--temperature", "--stream", "--json", "--explain", "--preset", "--config"):
        assert option in result.stdout


def test_console_script_and_module_print_the_same_version(tmp_path: Path, env: dict[str, str]) -> None:
    import subprocess

    script = Path(sys.executable).parent / "claudette"
    if not script.exists():
        pytest.skip("the claudette console script is not installed beside this Python")
    module = run_cli("--version", env=env, cwd=tmp_path)
    direct = subprocess.run([str(script), "--version"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert module.returncode == direct.returncode == 0
    assert module.stdout == direct.stdout
    assert module.stdout.startswith("claudette ")


def test_no_command_is_bad_usage(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_cli(env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""


def test_config_without_a_subcommand_is_bad_usage(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_cli("config", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "check" in result.stderr
    assert result.stdout == ""


def test_unknown_option_is_bad_usage_on_stderr(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_cli("ask", "hi", "--frobnicate", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "--frobnicate" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("args", [["--temperature", "5"], ["--max-tokens", "0"], ["--preset", "cheapest"]])
def test_invalid_option_values_are_bad_usage(tmp_path: Path, env: dict[str, str], args: list[str]) -> None:
    result = run_cli("ask", "hi", *args, env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert args[0] in result.stderr


# -- claudette plugins -------------------------------------------------------------------------


def test_plugins_lists_an_installed_plugin_with_distribution_version_and_hooks(tmp_path: Path, env: dict[str, str]) -> None:
    from importlib.metadata import version

    result = run_cli("plugins", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.strip().startswith("ollama "))
    assert "claudette-backend-ollama" in row
    assert version("claudette-backend-ollama") in row
    assert "claudette_register_backends" in row


def test_plugins_shows_the_order_of_firstresult_hooks(tmp_path: Path, env: dict[str, str]) -> None:
    site = tmp_path / "site"
    fake_plugin(
        site,
        "scorer",
        "from claudette import hookimpl\n\n"
        "@hookimpl\n"
        "def claudette_score_backend(backend, request, stats, options):\n"
        "    return None\n",
    )
    env["PYTHONPATH"] = str(site)
    result = run_cli("plugins", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "claudette_score_backend: scorer -> claudette-internal-scoring" in result.stdout
    assert "claudette_breaker_policy: claudette-internal-breaker-policy" in result.stdout
    row = next(line for line in result.stdout.splitlines() if line.strip().startswith("scorer "))
    assert "claudette-fake-scorer" in row and "0.7.1" in row


def test_plugins_reports_a_plugin_that_fails_to_load_and_exits_5(tmp_path: Path, env: dict[str, str]) -> None:
    site = tmp_path / "site"
    fake_plugin(site, "broken", "raise ImportError('needs libfrob 2.0')\n")
    env["PYTHONPATH"] = str(site)
    result = run_cli("plugins", env=env, cwd=tmp_path)
    assert result.returncode == 5
    failed = result.stdout.split("Plugins that failed to load:")[1]
    assert "broken (claudette-fake-broken)" in failed
    assert "needs libfrob 2.0" in failed
    assert "ollama" in result.stdout.split("Plugins that failed to load:")[0]


def test_plugins_says_clearly_when_none_is_installed(tmp_path: Path, env: dict[str, str]) -> None:
    env["CLAUDETTE_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    result = run_cli("plugins", env=env, cwd=tmp_path)
    assert result.returncode == 0
    assert "No backend plugin is installed" in result.stdout
    assert "pip install claudette-backend-" in result.stdout


def test_plugins_json_lists_plugins_backends_and_hook_order(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_cli("plugins", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 0
    data = json.loads(result.stdout)
    ollama = next(p for p in data["plugins"] if p["name"] == "ollama")
    assert ollama["distribution"] == "claudette-backend-ollama"
    assert ollama["builtin"] is False
    assert any(b["name"] == "ollama" and b["plugin"] == "ollama" for b in data["backends"])
    assert data["hook_order"]["claudette_score_backend"][-1] == "claudette-internal-scoring"
    assert data["failed"] == []


# -- claudette config check -------------------------------------------------------------------


def test_config_check_accepts_a_valid_file(tmp_path: Path, env: dict[str, str], ollama: OllamaEmulator) -> None:
    path = write_config(tmp_path / "c.toml", '[router]\npreset = "performance"\n' + ollama_backend("home", ollama.url))
    result = run_cli("config", "check", str(path), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{path}: valid" in result.stdout
    assert "home (ollama)" in result.stdout
    assert "cost 0.1, latency 0.7, availability 0.2" in result.stdout


def test_config_check_prints_every_problem_with_file_and_key_path(tmp_path: Path, env: dict[str, str]) -> None:
    path = write_config(
        tmp_path / "bad.toml",
        "[rooter]\nx = 1\n\n"
        "[router]\nmax_attempts = \"three\"\n\n"
        "[backends.a]\nplugin = \"ollama\"\ntimeout = \"slow\"\ncolour = \"red\"\n\n"
        "[backends.b]\nmodel = \"m\"\n",
    )
    result = run_cli("config", "check", str(path), env=env, cwd=tmp_path)
    assert result.returncode == 3
    lines = result.stdout.splitlines()
    for key_path in ("rooter", "router.max_attempts", "backends.a.timeout", "backends.a.colour", "backends.b.plugin"):
        assert any(line.startswith(f"{path}: {key_path}: ") for line in lines), (key_path, lines)
    assert "expected an integer" in result.stdout
    assert "unknown key" in result.stdout
    assert "5 configuration problems" in result.stderr


def test_config_check_names_a_plugin_that_is_not_installed(tmp_path: Path, env: dict[str, str]) -> None:
    path = write_config(tmp_path / "c.toml", '[backends.x]\nplugin = "nosuch"\nmodel = "m"\n')
    result = run_cli("config", "check", str(path), env=env, cwd=tmp_path)
    assert result.returncode == 3
    assert f"{path}: backends.x.plugin: " in result.stdout
    assert "'nosuch'" in result.stdout
    assert "ollama" in result.stdout  # the message lists what is registered


def test_config_check_reports_a_missing_api_key_with_its_variable(tmp_path: Path, env: dict[str, str]) -> None:
    pytest.importorskip("claudette_backend_claude")
    path = write_config(tmp_path / "c.toml", '[backends.c]\nplugin = "claude"\n')
    result = run_cli("config", "check", str(path), env=env, cwd=tmp_path)
    assert result.returncode == 3
    assert "backends.c.api_key" in result.stdout
    assert "ANTHROPIC_API_KEY" in result.stdout


def test_config_check_reports_an_unset_environment_variable(tmp_path: Path, env: dict[str, str]) -> None:
    path = write_config(tmp_path / "c.toml", '[backends.x]\nplugin = "ollama"\napi_key = "${NOT_SET_ANYWHERE_42}"\n')
    result = run_cli("config", "check", str(path), env=env, cwd=tmp_path)
    assert result.returncode == 3
    assert "backends.x.api_key: environment variable NOT_SET_ANYWHERE_42 is not set" in result.stdout


def test_config_check_of_a_missing_file_exits_3(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_cli("config", "check", str(tmp_path / "nope.toml"), env=env, cwd=tmp_path)
    assert result.returncode == 3
    assert "nope.toml: no such file" in result.stdout


def test_config_check_of_a_file_that_is_not_toml_exits_3(tmp_path: Path, env: dict[str, str]) -> None:
    path = write_config(tmp_path / "c.toml", "[backends\nplugin = \n")
    result = run_cli("config", "check", str(path), env=env, cwd=tmp_path)
    assert result.returncode == 3
    assert "not valid TOML" in result.stdout


def test_config_check_without_any_config_says_where_it_looked(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_cli("config", "check", env=env, cwd=tmp_path)
    assert result.returncode == 3
    assert "no config file found" in result.stderr
    assert str(tmp_path / "claudette.toml") in result.stderr
    assert str(tmp_path / "xdg-config" / "claudette" / "claudette.toml") in result.stderr


def test_config_lookup_order_env_beats_cwd_beats_user_dir(tmp_path: Path, env: dict[str, str], ollama: OllamaEmulator) -> None:
    user = write_config(tmp_path / "xdg-config" / "claudette" / "claudette.toml", ollama_backend("from_user", ollama.url))
    result = run_cli("config", "check", env=env, cwd=tmp_path)
    assert result.stdout.startswith(f"{user}: valid")
    cwd = write_config(tmp_path / "claudette.toml", ollama_backend("from_cwd", ollama.url))
    result = run_cli("config", "check", env=env, cwd=tmp_path)
    assert result.stdout.startswith(f"{cwd}: valid")
    named = write_config(tmp_path / "elsewhere" / "x.toml", ollama_backend("from_env", ollama.url))
    result = run_cli("config", "check", env={**env, "CLAUDETTE_CONFIG": str(named)}, cwd=tmp_path)
    assert result.stdout.startswith(f"{named}: valid")


# -- claudette backends ------------------------------------------------------------------------


def test_backends_shows_health_breaker_price_type_and_model(tmp_path: Path, env: dict[str, str], ollama: OllamaEmulator) -> None:
    write_config(
        tmp_path / "claudette.toml",
        ollama_backend("up", ollama.url, input_cost_per_token="5e-7", output_cost_per_token="1.5e-6")
        + ollama_backend("down", f"http://127.0.0.1:{closed_port()}"),
    )
    result = run_cli("backends", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:5] == ["BACKEND", "TYPE", "MODEL", "HEALTH", "BREAKER"]
    up = next(line for line in lines if line.startswith("up "))
    down = next(line for line in lines if line.startswith("down "))
    assert up.split()[:5] == ["up", "self_hosted", "qwen2.5:7b", "ok", up.split()[4]]
    assert "closed" in up and "0.5 / 1.5" in up
    assert " FAILED " in down and "0 / 0" in down
    assert "1 of 2 healthy" in result.stdout
    assert ollama.server.requests_to("/api/tags")


def test_backends_exits_4_when_no_backend_is_healthy(tmp_path: Path, env: dict[str, str]) -> None:
    write_config(tmp_path / "claudette.toml", ollama_backend("down", f"http://127.0.0.1:{closed_port()}"))
    result = run_cli("backends", env=env, cwd=tmp_path)
    assert result.returncode == 4
    assert "0 of 1 healthy" in result.stdout


def test_backends_says_clearly_when_nothing_is_configured(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_cli("backends", env=env, cwd=tmp_path)
    assert result.returncode == 4
    assert result.stdout == ""
    assert "no backend is configured or detected" in result.stderr
    assert "claudette.toml" in result.stderr


def test_backends_json_has_one_object_per_backend(tmp_path: Path, env: dict[str, str], ollama: OllamaEmulator) -> None:
    write_config(tmp_path / "claudette.toml", ollama_backend("up", ollama.url, cost_per_token="2e-6"))
    result = run_cli("backends", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["source"] == f"config {tmp_path / 'claudette.toml'}"
    (row,) = data["backends"]
    assert row["name"] == "up" and row["plugin"] == "ollama"
    assert row["healthy"] is True and row["breaker"] == "closed"
    assert row["eur_per_1m_input"] == pytest.approx(2.0)
    assert row["type"] == "self_hosted" and row["model"] == "qwen2.5:7b"


def test_backends_with_an_invalid_config_exits_3_listing_problems_on_stderr(tmp_path: Path, env: dict[str, str]) -> None:
    write_config(tmp_path / "claudette.toml", '[backends.a]\nplugin = "ollama"\ntimeout = -1\n')
    result = run_cli("backends", env=env, cwd=tmp_path)
    assert result.returncode == 3
    assert "backends.a.timeout" in result.stderr
    assert result.stdout == ""


def test_backends_never_prints_an_api_key(tmp_path: Path) -> None:
    claude = pytest.importorskip("claudette_backend_claude.testing")
    env = cli_env(tmp_path, ANTHROPIC_API_KEY=SECRET)
    with claude.AnthropicEmulator(api_key=SECRET) as emulator:
        write_config(
            tmp_path / "claudette.toml",
            f'[backends.c]\nplugin = "claude"\nbase_url = "{emulator.url}"\napi_key = "${{ANTHROPIC_API_KEY}}"\n',
        )
        for args in (["backends", "-v"], ["backends", "--json"], ["config", "check"], ["-v", "ask", "hi", "--json", "--explain"]):
            result = run_cli(*args, env=env, cwd=tmp_path)
            assert result.returncode == 0, (args, result.stderr)
            assert SECRET not in result.stdout + result.stderr


# -- a real llama.cpp server -------------------------------------------------------------------


@pytest.mark.llama
def test_ask_answers_from_a_real_llama_cpp_server(tmp_path: Path, env: dict[str, str]) -> None:
    import os
    import subprocess
    import time
    import urllib.request

    model = os.environ.get("CLAUDETTE_TEST_GGUF")
    if not model:
        pytest.skip("CLAUDETTE_TEST_GGUF is not set (run: nox -s llama)")
    pytest.importorskip("claudette_backend_qwen")
    pytest.importorskip("llama_cpp")
    port = closed_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", model, "--model_alias", "gemma3-270m",
         "--host", "127.0.0.1", "--port", str(port), "--chat_format", "gemma", "--n_ctx", "2048"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1):
                    break
            except OSError:
                assert server.poll() is None, "the llama.cpp server exited"
                assert time.monotonic() < deadline, "the llama.cpp server did not start"
                time.sleep(0.3)
        write_config(
            tmp_path / "claudette.toml",
            f'[backends.gemma]\nplugin = "qwen"\nbase_url = "http://127.0.0.1:{port}/v1"\n'
            'model = "gemma3-270m"\nbackend_type = "self_hosted"\ncost_per_token = 1e-7\n',
        )
        result = run_cli("ask", "Name a colour.", "--max-tokens", "12", "--json", env=env, cwd=tmp_path, timeout=180)
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["backend_used"] == "gemma"
        assert data["content"].strip()
        assert 1 <= data["tokens_output"] <= 12
        assert data["cost_eur"] == pytest.approx((data["tokens_input"] + data["tokens_output"]) * 1e-7)
    finally:
        server.kill()
        server.wait()
