"""The live fail-over demo (``demo/run.py``) against two real llama.cpp servers.

Runs in the ``llama`` nox session, which sets ``CLAUDETTE_TEST_GGUF`` to the model file.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

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


# -- without llama.cpp: the pieces of the demo's --gateway path ------------------------------

sys.path.insert(0, str(DEMO.parent))


def demo_run_module() -> ModuleType:
    """``demo/run.py`` as a module of its own name (``run`` is also the benchmark's)."""
    name = "claudette_demo_run"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, DEMO)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_demo_gateway_flag_is_off_by_default_and_parsed() -> None:
    parse_args = demo_run_module().parse_args

    assert parse_args(["--model", "m.gguf"]).gateway is False
    assert parse_args(["--model", "m.gguf", "--gateway"]).gateway is True


@pytest.mark.parametrize("plugin", ["qwen", "openai"])
def test_demo_gateway_config_says_what_the_in_process_router_is_given(tmp_path: Path, plugin: str) -> None:
    from claudette import ClaudettePlugins, RouterOptions
    from claudette.config import load_config
    from scenario import ECONOMY, PREMIUM, local_settings
    from through_gateway import gateway_config

    class Stub:
        def __init__(self, name: str, port: int) -> None:
            self.name = name
            self.base_url = f"http://127.0.0.1:{port}/v1"

    servers = [Stub(ECONOMY, 18001), Stub(PREMIUM, 18002)]
    policy = demo_run_module().DemoHooks(2, 5.0).policy  # what the in-process demo's plugin hands the router
    options = RouterOptions.preset("cost-optimized", health_checks=False, max_attempts=3, breaker=policy)
    backends = {s.name: (plugin, local_settings(s, s.name, plugin)) for s in servers}  # type: ignore[arg-type]
    path = gateway_config(tmp_path / "claudette.toml", backends, options)

    config = load_config(path, registry=ClaudettePlugins().registry)
    assert config.router == options
    assert config.router.breaker.reset_timeout_growth == 1.0 and config.router.breaker.failure_threshold == 2
    assert [(b.name, b.plugin) for b in config.backends] == [(ECONOMY, plugin), (PREMIUM, plugin)]
    for backend, server in zip(config.backends, servers, strict=True):
        assert backend.settings == local_settings(server, server.name, plugin)  # type: ignore[arg-type]
    assert config.backends[1].settings.input_cost_per_token == pytest.approx(100.0 / 1e6)


@pytest.mark.parametrize(
    ("old", "entered", "moves"),
    [
        ("closed", {"open": 1}, [("closed", "open")]),
        ("open", {"half_open": 1, "closed": 1}, [("open", "half_open"), ("half_open", "closed")]),
        (
            "open",
            {"half_open": 2, "open": 1, "closed": 1},
            [("open", "half_open"), ("half_open", "open"), ("open", "half_open"), ("half_open", "closed")],
        ),
        ("half_open", {"closed": 1, "open": 1}, [("half_open", "closed"), ("closed", "open")]),
        ("closed", {"open": 0}, []),
    ],
)
def test_demo_replays_breaker_moves_from_metric_counters(
    old: str, entered: dict[str, int], moves: list[tuple[str, str]]
) -> None:
    from scenario import breaker_moves

    assert breaker_moves(old, entered) == moves


def test_demo_pool_stops_the_last_started_first() -> None:
    from llama_servers import ServerPool

    stopped: list[str] = []

    class Proc:
        def __init__(self, name: str) -> None:
            self.name = name

        def stop(self) -> None:
            stopped.append(self.name)

    with ServerPool() as pool:
        pool.add(Proc("economy"))
        pool.add(Proc("premium"))
        pool.add(Proc("gateway"))
    assert stopped == ["gateway", "premium", "economy"]
