"""Entry-point discovery with real packages: wheels built, installed in a fresh venv.

A tiny backend package, a package whose plugin module fails to import, a tiny observer
package, the four provider plugins and the two observability plugins of this repository
are built as wheels and installed with the core into a new virtual environment; the
plugin manager there must find the good ones through the ``claudette.backends`` and
``claudette.plugins`` groups and report the broken one by its distribution name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROVIDERS = {
    "openai": ROOT / "plugins" / "claudette-backend-openai",
    "claude": ROOT / "plugins" / "claudette-backend-claude",
    "qwen": ROOT / "plugins" / "claudette-backend-qwen",
    "ollama": ROOT / "plugins" / "claudette-backend-ollama",
}
#: The observability plugins: entry-point name -> package directory.
OBSERVERS = {
    "otel": ROOT / "plugins" / "claudette-otel",
    "prometheus": ROOT / "plugins" / "claudette-prometheus",
}
OBSERVER_HOOKS = [
    "claudette_after_attempt",
    "claudette_breaker_transition",
    "claudette_request_end",
    "claudette_request_start",
]

pytestmark = pytest.mark.slow


def _package(
    root: Path, dist: str, module: str, body: str, group: str = "claudette.backends"
) -> Path:
    pkg = root / dist
    (pkg / module).mkdir(parents=True)
    (pkg / module / "__init__.py").write_text("")
    (pkg / module / "plugin.py").write_text(textwrap.dedent(body))
    (pkg / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"
            [project]
            name = "{dist}"
            version = "1.2.3"
            dependencies = ["claudette-core"]
            [project.entry-points."{group}"]
            {dist.rsplit("-", 1)[-1]} = "{module}.plugin"
            [tool.hatch.build.targets.wheel]
            packages = ["{module}"]
            """
        )
    )
    return pkg


TINY = """
from claudette import BaseBackend, BackendSettings, hookimpl

class TinyBackend(BaseBackend):
    async def send(self, request):
        return self.create_success_response("tiny says hi", 1, 3, 0.1, request=request)

@hookimpl
def claudette_register_backends(registry):
    registry.register("tiny", TinyBackend, defaults=BackendSettings(model="tiny-1", cost_per_token=0.0))
"""

BROKEN = """
import a_module_that_does_not_exist_anywhere
"""

WATCH = """
from claudette import hookimpl

@hookimpl
def claudette_request_end(context, response):
    print("watched", context.outcome, response.backend_used if response else None)
"""

PROBE = """
import asyncio, json
from claudette import ClaudetteRequest, BackendRouter, RouterOptions
from claudette.plugins import get_plugin_manager
pm = get_plugin_manager()
router = BackendRouter(RouterOptions(health_checks=False), plugins=pm)
router.register_backend(pm.registry.create("tiny"))
answer = asyncio.run(router.route_request(ClaudetteRequest(prompt="hello")))
print(json.dumps({
    "registered": [r.name for r in pm.registry.list()],
    "plugins": {i.name: [i.distribution, i.version, list(i.hooks)] for i in pm.plugin_infos() if not i.error},
    "failures": [[f.plugin, f.distribution, str(f)] for f in pm.failures],
    "answer": answer.content,
}))
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("discovery")
    wheels = tmp / "wheels"
    sources = [ROOT,
               _package(tmp / "src", "claudette-backend-tiny", "claudette_backend_tiny", TINY),
               _package(tmp / "src", "claudette-backend-broken", "claudette_backend_broken", BROKEN),
               _package(tmp / "src", "claudette-watch", "claudette_watch", WATCH, "claudette.plugins")]
    sources += [p for p in PROVIDERS.values() if (p / "pyproject.toml").exists()]
    sources += list(OBSERVERS.values())
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), *map(str, sources)],
        check=True,
    )
    venv_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=True).create(venv_dir)
    python = venv_dir / "bin" / "python"
    # Only local wheels for claudette packages; their dependencies come from the index.
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--find-links", str(wheels),
         *sorted(str(w) for w in wheels.glob("*.whl"))],
        check=True,
    )
    return {"python": python, "bin": venv_dir / "bin", "tmp": tmp}


def _run(env: dict[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDETTE_")}
    clean["PATH"] = f"{env['bin']}{os.pathsep}{clean.get('PATH', '')}"
    return subprocess.run(args, capture_output=True, text=True, env=clean, cwd=env["tmp"], timeout=120)


def _probe(env: dict[str, Path]) -> dict:
    out = _run(env, str(env["python"]), "-c", PROBE)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])  # after what the observer printed


def test_installed_plugin_is_discovered_through_its_entry_point(env):
    found = _probe(env)
    assert "tiny" in found["registered"]
    assert found["plugins"]["tiny"] == ["claudette-backend-tiny", "1.2.3", ["claudette_register_backends"]]
    assert found["answer"] == "tiny says hi"


def test_a_plugin_that_fails_to_import_is_reported_by_distribution_and_does_not_stop_others(env):
    found = _probe(env)
    assert [f[:2] for f in found["failures"]] == [["broken", "claudette-backend-broken"]]
    assert "a_module_that_does_not_exist_anywhere" in found["failures"][0][2]
    assert "tiny" in found["registered"]


def test_the_provider_plugins_are_discovered(env):
    expected = {name for name, path in PROVIDERS.items() if (path / "pyproject.toml").exists()}
    found = _probe(env)
    assert expected <= set(found["registered"])
    for name in expected:
        assert found["plugins"][name][0] == f"claudette-backend-{name}"


def test_pypi_claudette_is_never_installed(env):
    out = _run(env, str(env["python"]), "-m", "pip", "show", "claudette")
    assert out.returncode != 0


def test_blocking_a_plugin_by_environment_variable(env):
    clean = dict(os.environ, CLAUDETTE_BLOCK_PLUGINS="broken,tiny")
    out = subprocess.run(
        [str(env["python"]), "-c",
         "from claudette.plugins import get_plugin_manager as g; pm = g();"
         "print(sorted(r.name for r in pm.registry.list()), len(pm.failures))"],
        capture_output=True, text=True, env=clean, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "'tiny'" not in out.stdout and out.stdout.strip().endswith(" 0")


def test_disabling_autoload_loads_no_entry_point(env):
    clean = dict(os.environ, CLAUDETTE_DISABLE_PLUGIN_AUTOLOAD="1")
    out = subprocess.run(
        [str(env["python"]), "-c",
         "from claudette.plugins import get_plugin_manager as g; print(len(g().registry))"],
        capture_output=True, text=True, env=clean, timeout=60,
    )
    assert out.stdout.strip() == "0", out.stderr


def test_cli_lists_installed_plugins(env):
    claudette = env["bin"] / "claudette"
    out = _run(env, str(claudette), "plugins")
    # The broken plugin is listed and makes the exit code say "plugin problem"; the
    # healthy one is still listed with its distribution.
    assert out.returncode == 5, out.stderr
    assert "claudette-backend-tiny" in out.stdout
    assert "claudette-backend-broken" in out.stdout + out.stderr


def test_a_plugin_of_the_plugins_group_is_discovered_and_called(env):
    found = _probe(env)
    assert found["plugins"]["watch"] == ["claudette-watch", "1.2.3", ["claudette_request_end"]]
    out = _run(env, str(env["python"]), "-c", PROBE)
    assert out.stdout.startswith("watched success tiny\n"), out.stdout


def test_the_observability_plugins_are_discovered_with_their_hooks(env):
    found = _probe(env)
    for name, path in OBSERVERS.items():
        assert found["plugins"][name] == [path.name, "0.1.0", OBSERVER_HOOKS]
    out = _run(env, str(env["bin"] / "claudette"), "plugins", "--json")
    listed = {p["name"]: p for p in json.loads(out.stdout)["plugins"]}
    assert listed["otel"]["distribution"] == "claudette-otel"
    assert listed["prometheus"]["hooks"] == OBSERVER_HOOKS


def test_the_installed_prometheus_plugin_counts_a_routed_request(env):
    probe = PROBE.replace(
        '"answer": answer.content,',
        '"answer": answer.content, "counted": __import__("prometheus_client").REGISTRY.get_sample_value('
        '"claudette_requests_total", {"backend": "tiny", "outcome": "success"}),',
    )
    out = _run(env, str(env["python"]), "-c", probe)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1])["counted"] == 1.0


def test_importing_claudette_loads_no_observability_package(env):
    code = (
        "import sys, claudette; print(sorted(m for m in sys.modules if m.startswith("
        "('opentelemetry', 'prometheus_client', 'claudette_otel', 'claudette_prometheus'))))"
    )
    out = _run(env, str(env["python"]), "-c", code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
