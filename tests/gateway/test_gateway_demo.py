"""The demo's ``--gateway`` path end to end, with OpenAI emulators standing in for llama.cpp.

The whole scenario runs: ``claudette serve`` from the config the demo writes, requests
through the official ``openai`` SDK, the economy "server" stopped and started again on its
port, breaker moves read from ``/metrics``, and the gateway stopped with SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import re
from pathlib import Path

import pytest
from claudette_backend_openai.testing import OpenAIEmulator

DEMO = Path(__file__).resolve().parent.parent.parent / "demo"
pytest.importorskip("claudette_prometheus", reason="the demo reads breaker moves from /metrics")


class EmulatedServer:
    """An OpenAI emulator in a llama server's place: killed and restarted on the same port."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.emulator: OpenAIEmulator | None = OpenAIEmulator().start()
        self.port = int(self.emulator.url.rsplit(":", 1)[1])
        self.starts = 1

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        return os.getpid() if self.emulator is not None else None

    def start(self) -> None:
        if self.emulator is None:
            self.emulator = OpenAIEmulator(port=self.port).start()
            self.starts += 1

    def wait_ready(self, timeout: float = 180.0) -> float:
        return 0.0

    def kill(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None

    def stop(self) -> None:
        self.kill()


def _run_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, EmulatedServer]:
    """The demo's gateway path, short and quick, on two emulators; (exit code, economy)."""
    monkeypatch.syspath_prepend(str(DEMO))
    from llama_servers import ServerPool
    from through_gateway import run_through_gateway

    # demo/run.py under a name of its own: ``run`` is also the benchmark's module.
    spec = importlib.util.spec_from_file_location("claudette_demo_run", DEMO / "run.py")
    assert spec is not None and spec.loader is not None
    demo_run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo_run)
    args = demo_run.parse_args(
        ["--model", "unused.gguf", "--gateway", "--plugin", "openai", "--requests", "9", "--interval", "0.05",
         "--reset-timeout", "1", "--max-extra-seconds", "30"]
    )  # fmt: skip
    assert isinstance(args, argparse.Namespace)
    with ServerPool() as pool:
        economy = pool.add(EmulatedServer("local-economy"))
        premium = pool.add(EmulatedServer("local-premium"))
        code = asyncio.run(run_through_gateway(args, pool, economy, premium, tmp_path))
    return code, economy


def test_demo_through_the_gateway_shows_fallback_breaker_and_recovery(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, economy = _run_demo(tmp_path, monkeypatch)
    out = capsys.readouterr().out

    assert code == 0, out
    assert economy.starts == 2  # killed once, started again
    assert (tmp_path / "claudette.toml").exists()
    assert "read from GET /metrics after each request" in out
    # Every row's backend came from the x-claudette-backend header.
    rows = re.findall(r"^\s*\d+\s+(local-\w+)\s+\d+ ms", out, re.M)
    assert len(rows) >= 9 and set(rows) == {"local-economy", "local-premium"}
    assert re.search(r"^\s*\d+\s+local-premium .*FALLBACK: local-economy failed", out, re.M), out
    assert "circuit breaker of local-economy: closed -> open (seen in /metrics)" in out
    assert "circuit breaker of local-economy: half_open -> closed (seen in /metrics)" in out
    assert re.search(r"^\s*\d+\s+local-economy .*half-open probe succeeded", out, re.M), out
    assert re.search(r"^  failures +0$", out, re.M)
    attempts = re.search(r"^  attempts +(\d+) backend calls", out, re.M)
    assert attempts is not None and int(attempts.group(1)) > len(rows)
    assert "gateway         stopped by SIGTERM, exit 0" in out
    assert "fail-over and recovery shown" in out


def test_demo_through_the_gateway_without_metrics_says_it_infers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(DEMO))
    import through_gateway

    async def no_metrics(url: str) -> bool:
        return False

    monkeypatch.setattr(through_gateway, "serves_metrics", no_metrics)
    code, economy = _run_demo(tmp_path, monkeypatch)
    out = capsys.readouterr().out

    assert code == 0, out
    assert economy.starts == 2
    assert "cannot be seen from outside; they are inferred from which backend answered" in out
    assert "circuit breaker of" not in out  # no move is claimed that was not seen
    assert re.search(r"^\s*\d+\s+local-premium .*local-economy did not answer \(fallback or open breaker\)", out, re.M)
    assert re.search(r"^  fallbacks +not visible \((\d+) requests answered by another backend", out, re.M)
    assert re.search(r"^  attempts +not visible", out, re.M)
    assert "breaker local-economy: moves not visible; inferred from who answered" in out
    assert "gateway         stopped by SIGTERM, exit 0" in out
    assert "fail-over and recovery shown" in out
