"""Fixtures of the gateway suite: provider emulators and ``claudette serve`` in front of them."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Serving needs the server extra; `nox -s gateway` installs it, other sessions leave it out.
pytest.importorskip("uvicorn", reason="claudette serve needs `pip install 'claudette-core[server]'`")

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parent.parent))

from _gateway import CLAUDE_KEY, OPENAI_KEY, Gateway, claude_backend, openai_backend, write_config
from _support import clear_proxy_environment
from claudette_backend_claude.testing import AnthropicEmulator
from claudette_backend_openai.testing import OpenAIEmulator


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gateway: claudette serve tests (nox -s gateway)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.gateway)


@pytest.fixture(autouse=True)
def _no_proxy_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_proxy_environment(monkeypatch)


@pytest.fixture(scope="module")
def openai_emulator() -> Iterator[OpenAIEmulator]:
    with OpenAIEmulator(api_key=OPENAI_KEY) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def claude_emulator() -> Iterator[AnthropicEmulator]:
    with AnthropicEmulator(api_key=CLAUDE_KEY, reply="Hello from Claude") as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _emulators_reset(request: pytest.FixtureRequest) -> None:
    for name in ("openai_emulator", "claude_emulator"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[Callable[..., Gateway]]:
    """Start ``claudette serve`` with a config of ``{table: values}``; stopped at the end."""
    started: list[Gateway] = []

    def start(
        tables: dict[str, dict[str, Any]], *args: str, wait: bool = True, env: dict[str, str] | None = None
    ) -> Gateway:
        config = write_config(tmp_path / f"gateway{len(started)}.toml", tables)
        gateway = Gateway(config, *args, env=env)
        started.append(gateway)
        return gateway.wait_ready() if wait else gateway

    yield start
    for gateway in started:
        gateway.close()


@pytest.fixture(scope="module")
def gateway(
    openai_emulator: OpenAIEmulator, claude_emulator: AnthropicEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """One gateway for a module: ``openai`` (preferred) then ``claude``, no authentication."""
    config = write_config(
        tmp_path_factory.mktemp("gateway") / "gateway.toml",
        {
            "backends.openai": openai_backend(openai_emulator.base_url),
            "backends.claude": claude_backend(claude_emulator.url),
        },
    )
    started = Gateway(config)
    try:
        yield started.wait_ready()
    finally:
        started.close()
