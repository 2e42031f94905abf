"""The README's examples work as written: the library example and the config example.

The ten-line example runs unchanged in a subprocess; its two backends are pointed at the
Ollama and OpenAI emulators through the same environment variables a user would set.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

ollama_testing = pytest.importorskip("claudette_backend_ollama.testing")
openai_testing = pytest.importorskip("claudette_backend_openai.testing")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDETTE_", "OPENAI_", "ANTHROPIC_", "DASHSCOPE_", "OLLAMA_"))}
    env.update(extra)
    return env


def test_readme_shows_exactly_the_two_quick_start_commands():
    quick = README.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = [line for line in _blocks("bash")[0].splitlines() if line.strip()]
    assert commands[0].startswith("python3 -m pip install nox && python3 -m nox -s demo")
    assert commands[1].startswith("python3 -m pip install nox && python3 -m nox ")
    assert len(commands) == 2 and "nox -s demo" in quick


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 -m nox" in ci


def test_the_ten_line_library_example_runs(tmp_path):
    example = _blocks("python")[0]
    assert len([line for line in example.splitlines() if line.strip()]) <= 12
    script = tmp_path / "example.py"
    script.write_text(example)
    with ollama_testing.OllamaEmulator(models=["qwen2.5:7b"], reply="Hi from ollama") as ollama, \
            openai_testing.OpenAIEmulator() as openai:
        out = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            timeout=120,
            env=_env(OLLAMA_HOST=ollama.url, OPENAI_BASE_URL=openai.base_url, OPENAI_API_KEY="sk-readme-test-123456"),
        )
    assert out.returncode == 0, out.stderr
    # The free local backend wins on cost: the answer comes from Ollama and costs nothing.
    assert out.stdout.startswith("Hi from ollama ollama €0.000000")
    assert ollama.chat_count == 1


def test_the_readme_config_passes_config_check(tmp_path):
    config = next(b for b in _blocks("toml") if "[backends." in b)
    path = tmp_path / "claudette.toml"
    path.write_text(config)
    out = subprocess.run(
        [sys.executable, "-m", "claudette", "config", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(OPENAI_API_KEY="sk-readme-test-123456"),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "sk-readme-test-123456" not in out.stdout + out.stderr


def test_the_readme_config_costs_what_it_says(monkeypatch):
    import tomllib
    from claudette.config import parse_config
    from claudette.factory import router_from_config
    from claudette.pricing import price_table_available

    monkeypatch.setenv("OPENAI_API_KEY", "sk-readme-test-123456")
    config = parse_config(tomllib.loads(next(b for b in _blocks("toml") if "[backends." in b)))
    router = router_from_config(config)
    backends = router.backends
    gpu = backends["gpu-box"]
    assert gpu.cost_for_usage(4, 5) == pytest.approx(9e-7)  # 1e-7 EUR per token, in and out
    assert gpu.prices.source == "config"
    assert backends["local"].prices.is_free and backends["local"].prices.source == "plugin default"
    openai = backends["openai"].prices
    if price_table_available():
        assert openai.source == "price table"
        assert openai.input == pytest.approx(0.15e-6 * config.router.usd_to_eur)
    else:
        assert openai.source == "unknown"


def test_the_install_section_installs_from_paths_of_this_checkout():
    install = README.split("## Install", 1)[1].split("\n## ", 1)[0]
    assert "not on PyPI yet" in install
    command = _blocks("bash")[1].replace("\\\n", " ")
    paths = re.findall(r"-e (\S+)", command)
    assert len(paths) == 5, paths
    for path in paths:
        assert (ROOT / path / "pyproject.toml").is_file(), path
    assert "nox -s build" in install and "dist/*.whl" in install


def test_the_build_session_named_by_the_readme_exists():
    noxfile = (ROOT / "noxfile.py").read_text()
    assert re.search(r"^def build\(session", noxfile, flags=re.M)
