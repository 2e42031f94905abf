"""plugin-template/: render it with cookiecutter, install the result for real, run its tests.

The slow part (one fresh venv with claudette-core and the openai plugin from this checkout
and two rendered projects, one per protocol choice) is shared by the module; runs in
``nox -s template``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _venv import ROOT, TEST_TOOLS, Venv, cli_has_plugins_command

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

cookiecutter_main = pytest.importorskip("cookiecutter.main")

TEMPLATE = ROOT / "plugin-template"
#: The plugin an OpenAI-compatible project builds on (not on PyPI: installed from here).
OPENAI_PLUGIN = ROOT / "plugins" / "claudette-backend-openai"
#: name → cookiecutter options for the two protocol choices.
VARIANTS: dict[str, dict[str, str]] = {
    "acme": {},  # every default: OpenAI-compatible, cloud
    "zeta": {"provider_name": "zeta", "protocol": "custom-http", "backend_type": "self_hosted"},
}

pytestmark = pytest.mark.slow


def render(output: Path, **options: str) -> Path:
    """Render the template without prompts; returns the project directory."""
    return Path(cookiecutter_main.cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(output), extra_context=options))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both variants rendered into a temporary directory."""
    out = tmp_path_factory.mktemp("rendered")
    return {name: render(out, **options) for name, options in VARIANTS.items()}


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, rendered: dict[str, Path]) -> Iterator[Venv]:
    """One fresh venv: core and the openai plugin from this checkout, both rendered
    projects, the test tools."""
    env = Venv(tmp_path_factory.mktemp("venv") / "env")
    env.install(*TEST_TOOLS)
    env.install(ROOT, OPENAI_PLUGIN, *rendered.values(), build_isolation=False)
    yield env


# -- what the template renders (fast) --------------------------------------------------------


def test_default_render_names_everything_after_the_provider(rendered: dict[str, Path]) -> None:
    project = rendered["acme"]

    assert project.name == "claudette-backend-acme"
    assert (project / "src" / "claudette_backend_acme" / "plugin.py").is_file()
    assert "class AcmeBackend(OpenAICompatibleBackend)" in (project / "src" / "claudette_backend_acme" / "backend.py").read_text()


def _dependencies(project: Path) -> list[str]:
    meta = tomllib.loads((project / "pyproject.toml").read_text())
    return [d.split(">")[0].split("=")[0].strip() for d in meta["project"]["dependencies"]]


def test_pyproject_declares_the_entry_point_and_depends_on_claudette_core(rendered: dict[str, Path]) -> None:
    meta = tomllib.loads((rendered["acme"] / "pyproject.toml").read_text())

    assert meta["project"]["name"] == "claudette-backend-acme"
    assert meta["project"]["entry-points"]["claudette.backends"] == {"acme": "claudette_backend_acme.plugin"}
    deps = _dependencies(rendered["acme"])
    assert "claudette-core" in deps
    assert "claudette" not in deps
    assert meta["build-system"]["build-backend"] == "hatchling.build"
    assert meta["tool"]["pytest"]["ini_options"]["asyncio_mode"] == "auto"


def test_protocol_choice_keeps_only_the_chosen_implementation(rendered: dict[str, Path]) -> None:
    acme = (rendered["acme"] / "src" / "claudette_backend_acme" / "backend.py").read_text()
    zeta = (rendered["zeta"] / "src" / "claudette_backend_zeta" / "backend.py").read_text()

    assert "from claudette_backend_openai import OpenAICompatibleBackend" in acme
    assert '"generate"' in zeta and "iter_ndjson" in zeta
    leftovers = [p.name for p in rendered["zeta"].rglob("*_openai.py")] + [
        p.name for p in rendered["zeta"].rglob("*_custom.py")
    ]
    assert leftovers == []


def test_openai_compatible_choice_builds_on_the_openai_plugin(rendered: dict[str, Path]) -> None:
    conformance = (rendered["acme"] / "tests" / "test_conformance.py").read_text()

    assert "claudette-backend-openai" in _dependencies(rendered["acme"])
    assert "claudette-backend-openai" not in _dependencies(rendered["zeta"])
    assert "OpenAIConformanceReplies, BackendConformance" in conformance


def test_generated_conftest_opts_in_to_claudettes_fixtures(rendered: dict[str, Path]) -> None:
    for project in rendered.values():
        conftest = (project / "tests" / "conftest.py").read_text()

        assert 'pytest_plugins = ["claudette.testing.pytest_plugin"]' in conftest


def test_self_hosted_choice_needs_no_key_and_is_free(rendered: dict[str, Path]) -> None:
    plugin = (rendered["zeta"] / "src" / "claudette_backend_zeta" / "plugin.py").read_text()
    backend = (rendered["zeta"] / "src" / "claudette_backend_zeta" / "backend.py").read_text()

    assert 'backend_type="self_hosted"' in plugin and "cost_per_token" not in plugin
    assert "requires_api_key: ClassVar[bool] = False" in backend
    assert "return TokenPrices.free()" in backend  # free by the plugin's default


def test_rendered_files_contain_no_template_syntax(rendered: dict[str, Path]) -> None:
    leftovers = [
        str(p)
        for project in rendered.values()
        for p in project.rglob("*")
        if p.is_file() and ("{{" in p.read_text() or "{%" in p.read_text() or "cookiecutter" in p.read_text())
    ]

    assert leftovers == []


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
@pytest.mark.parametrize("name", list(VARIANTS))
def test_rendered_project_is_lint_clean(rendered: dict[str, Path], name: str) -> None:
    result = subprocess.run(
        ["ruff", "check", "--no-cache", "--output-format", "concise", "."],
        cwd=rendered[name],
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_invalid_provider_name_is_refused(tmp_path: Path) -> None:
    from cookiecutter.exceptions import FailedHookException

    with pytest.raises(FailedHookException):
        render(tmp_path, provider_name="9 lives!")

    assert list(tmp_path.iterdir()) == []


# -- installed for real (slow) ---------------------------------------------------------------


@pytest.mark.parametrize("name", list(VARIANTS))
def test_generated_project_tests_pass_in_a_fresh_venv(venv: Venv, rendered: dict[str, Path], name: str) -> None:
    passed, output = venv.pytest(rendered[name])

    assert passed >= 30, output
    assert "test_conformance.py::Test" in output
    features = "test_feature_conformance.py::Test"
    assert f"{features}" in output
    assert "test_request_needing_what_backend_lacks_is_refused_before_any_call[tools] PASSED" in output
    if name == "acme":  # an OpenAI-compatible backend carries tools: the whole suite runs
        assert "test_two_turn_tool_conversation[stream] PASSED" in output
    if name == "acme":  # the OpenAI-compatible project also talks to the openai plugin's emulator
        assert "test_answers_the_openai_emulator_and_retries_past_a_cut_reply PASSED" in output
    assert "test_plugin.py::test_a_fresh_plugin_manager_loads_it_from_the_installed_package PASSED" in output


def test_installed_plugins_are_discovered_through_entry_points(venv: Venv) -> None:
    infos = venv.plugin_infos()

    assert infos["acme"][0] == "claudette-backend-acme"
    assert infos["zeta"][0] == "claudette-backend-zeta"
    assert "claudette_register_backends" in infos["acme"][1]
    assert infos["acme"][2] is None and infos["zeta"][2] is None


def test_router_creates_the_installed_backend_by_name(venv: Venv) -> None:
    snippet = (
        "from claudette import BackendSettings, get_plugin_manager; "
        "b = get_plugin_manager().registry.create('zeta', BackendSettings()); "
        "print(type(b).__name__, b.settings.model, b.settings.backend_type)"
    )
    result = venv.run("python", "-c", snippet)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ZetaBackend", "zeta-small", "self_hosted"]


@pytest.mark.skipif(not cli_has_plugins_command(), reason="this checkout's CLI has no plugins command")
def test_claudette_plugins_command_lists_them(venv: Venv) -> None:
    result = venv.run("claudette", "plugins")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "acme" in result.stdout and "claudette-backend-zeta" in result.stdout
