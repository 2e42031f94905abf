"""Fixtures for the Qwen backend tests: a vLLM-flavoured emulator and backends for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from claudette import BackendSettings
from claudette_backend_openai.testing import OpenAIEmulator

from claudette_backend_qwen import QwenBackend

#: claudette's own fixtures (``claudette_loopback_server`` ...), opted into here.
pytest_plugins = ["claudette.testing.pytest_plugin"]

FIXTURES = Path(__file__).parent / "fixtures"
QWEN_MODEL = "Qwen/Qwen2.5-Coder-7B-Instruct"


@pytest.fixture(autouse=True)
def _no_dashscope_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see a real DashScope key from the environment."""
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)


@pytest.fixture
def transcript() -> Callable[[str], bytes]:
    """Read a recorded provider transcript from tests/fixtures: ``transcript(name)``."""

    def read(name: str) -> bytes:
        return (FIXTURES / name).read_bytes()

    return read


@pytest.fixture
def vllm() -> Iterator[OpenAIEmulator]:
    """A started emulator of a vLLM server serving Qwen."""
    with OpenAIEmulator(flavour="vllm", models=(QWEN_MODEL,)) as emu:
        yield emu


@pytest.fixture
async def make_backend() -> AsyncIterator[Callable[..., QwenBackend]]:
    """Build QwenBackends (closed after the test): ``make_backend(base_url, **settings)``."""
    made: list[QwenBackend] = []

    def make(base_url: str | None, name: str = "qwen", **settings: Any) -> QwenBackend:
        settings.setdefault("timeout", 5.0)
        settings.setdefault("verify_tls", False)  # plain http on loopback: skip loading CA certs
        backend = QwenBackend(name, BackendSettings(base_url=base_url, **settings))
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.aclose()


@pytest.fixture
def backend(vllm: OpenAIEmulator, make_backend: Callable[..., QwenBackend]) -> QwenBackend:
    """A QwenBackend talking to the ``vllm`` emulator."""
    return make_backend(vllm.base_url)
