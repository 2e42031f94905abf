"""The live fail-over demo (``demo/run.py``) against two real llama.cpp servers.

Runs in the ``llama`` nox session, which sets ``CLAUDETTE_TEST_GGUF`` to the model file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parent.parent / "demo" / "run.py"


def _llama_server_pids(marker: str) -> list[int]:
    """Running ``llama_cpp.server`` processes whose command line contains ``marker``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "llama_cpp.server" in command and marker in command:
            pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run the demo once with a small number of requests; (result, model path)."""
    model = os.environ.get("CLAUDETTE_TEST_GGUF")
    if not model:
        pytest.skip("CLAUDETTE_TEST_GGUF is not set (run: nox -s llama)")
    pytest.importorskip("llama_cpp")
    pytest.importorskip("claudette_backend_qwen")
    # A private copy of the model path marks this run's servers among any others.
    private = tmp_path_factory.mktemp("demo") / "model.gguf"
    private.symlink_to(Path(model).resolve())
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    result = subprocess.run(
        [sys.executable, str(DEMO), "--model", str(private), "--requests", "10", "--no-detect"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return result, str(private)


@pytest.mark.llama
def test_demo_succeeds_and_shows_every_request(demo_run: tuple[subprocess.CompletedProcess[str], str]) -> None:
    result, _ = demo_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if re.match(r"^\s*\d+\s+local-", line)]
    assert len(rows) >= 10
    assert re.search(r"^  requests +(\d+)$", result.stdout, re.M)
    assert re.search(r"^  failures +0$", result.stdout, re.M)


@pytest.mark.llama
def test_demo_falls_back_when_the_cheap_server_is_killed(demo_run: tuple[subprocess.CompletedProcess[str], str]) -> None:
    result, _ = demo_run
    assert "SIGKILL local-economy" in result.stdout
    fallbacks = re.search(r"^  fallbacks +(\d+)", result.stdout, re.M)
    assert fallbacks is not None and int(fallbacks.group(1)) >= 1
    assert re.search(r"^\s*\d+\s+local-premium .*FALLBACK: local-economy failed", result.stdout, re.M)


@pytest.mark.llama
def test_demo_breaker_opens_then_closes_again(demo_run: tuple[subprocess.CompletedProcess[str], str]) -> None:
    result, _ = demo_run
    assert "circuit breaker of local-economy: closed -> open" in result.stdout
    assert "circuit breaker of local-economy: half_open -> closed" in result.stdout
    path = re.search(r"^  breaker local-economy: (.*)$", result.stdout, re.M)
    assert path is not None
    states = path.group(1).split(" -> ")
    assert states[:2] == ["closed", "open"] and states[-2:] == ["half_open", "closed"]
    assert "fail-over and recovery shown" in result.stdout


@pytest.mark.llama
def test_demo_leaves_no_llama_server_running(demo_run: tuple[subprocess.CompletedProcess[str], str]) -> None:
    _, model = demo_run
    assert _llama_server_pids(model) == []
