"""Every example in docs/tools.md runs, in order, against the providers' emulators."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from claudette.config import parse_config
from claudette_backend_claude.testing import AnthropicEmulator
from claudette_backend_ollama.testing import OllamaEmulator
from claudette_backend_openai.testing import OpenAIEmulator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DOC = (Path(__file__).resolve().parents[1] / "docs" / "tools.md").read_text(encoding="utf-8")
PYTHON = re.findall(r"```python\n(.*?)```", DOC, re.DOTALL)
TOML = re.findall(r"```toml\n(.*?)```", DOC, re.DOTALL)


@pytest.fixture
def claudette_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``claudette.toml`` with an OpenAI, a Claude and an Ollama backend, each on its emulator."""
    with contextlib.ExitStack() as stack:
        openai = stack.enter_context(OpenAIEmulator())
        claude = stack.enter_context(AnthropicEmulator())
        ollama = stack.enter_context(OllamaEmulator())
        path = tmp_path / "claudette.toml"
        path.write_text(
            f"""
[backends.openai]
plugin = "openai"
base_url = "{openai.base_url}"
api_key = "sk-docs"

[backends.claude]
plugin = "claude"
base_url = "{claude.url}"
api_key = "{claude.api_key}"

[backends.ollama]
plugin = "ollama"
base_url = "{ollama.url}"
""",
            encoding="utf-8",
        )
        monkeypatch.setenv("CLAUDETTE_CONFIG", str(path))
        yield path


def test_the_page_has_its_examples() -> None:
    assert len(PYTHON) >= 6
    assert "| `ollama` |" in DOC


def test_python_examples_run_in_order(claudette_toml: Path, capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, object] = {"__name__": "docs_tools"}
    try:
        for block in PYTHON:
            exec(compile(block, "docs/tools.md", "exec"), namespace)
    finally:
        router = namespace.get("router")
        if router is not None:
            router.close()  # type: ignore[attr-defined]
    printed = capsys.readouterr().out.splitlines()
    assert printed[:2] == ['Tool results: {"temperature_c": 21}'] * 2
    assert printed[2].startswith("[1 image] ")  # the emulator saw one image
    assert len(printed) == 3


@pytest.mark.parametrize("block", TOML)
def test_toml_examples_are_valid_config(block: str) -> None:
    config = parse_config(tomllib.loads(block))
    assert config.backends[0].settings.capabilities == ("tools",)
